"""segctl metadata inside the ``.tflite`` flatbuffer (``Model.metadata`` entry ``segctl``).

Why embedded: a ``.tflite`` file is often copied alone onto a phone; the metadata (names, imgsz,
precision, quantisation) must travel inside it. TFLite keeps named metadata buffers in the model
itself, which interpreters ignore, so the file stays a valid model. A ``<file>.metadata.yaml``
companion is also written for tools that cannot parse flatbuffers.
"""
from __future__ import annotations

import json

from segctl.export.metadata import _plain, normalise

KEY = "segctl"


def tflite_schema():
    """The TFLite flatbuffer schema module from LiteRT or TensorFlow, whichever is installed."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def embed(model_bytes: bytes, meta: dict) -> bytes:
    """``model_bytes`` with ``meta`` stored (JSON) as the ``segctl`` metadata buffer (replacing one)."""
    import flatbuffers

    schema = tflite_schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(bytearray(model_bytes), 0))
    buf = schema.BufferT()
    buf.data = list(json.dumps(_plain(meta)).encode("utf-8"))
    model.buffers = list(model.buffers or [])
    model.metadata = [m for m in (model.metadata or []) if (m.name or b"").decode() != KEY]
    model.buffers.append(buf)
    entry = schema.MetadataT()
    entry.name = KEY
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def read(model_bytes: bytes) -> dict:
    """The embedded segctl metadata, or ``{}`` when the file has none."""
    schema = tflite_schema()
    model = schema.Model.GetRootAs(bytearray(model_bytes), 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if (entry.Name() or b"").decode() == KEY:
            data = model.Buffers(entry.Buffer()).DataAsNumpy()
            return normalise(json.loads(bytes(data).decode("utf-8")))
    return {}
