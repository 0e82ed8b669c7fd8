"""The TF.js exporter: the frozen GraphDef (``after=("pb",)``) written as a TF.js graph model.

Why from the ``.pb``: it is the SavedModel's serving signature already frozen (variables turned
into constants) and verified against PyTorch, and a TF.js graph model *is* a frozen GraphDef in JSON
with its constants moved into weight shards. :mod:`.graph_model` optimises it with TensorFlow's own
graph tools, checks every op against the TensorFlow.js op list and writes ``model.json`` plus
4 MB shards; no ``tensorflowjs`` package is involved, so the format needs only TensorFlow 2.21.
``half=True`` stores kernels as float16 and ``int8=True`` as affine uint8 (dequantised by TF.js
when the model loads, so activations stay float32 and the I/O is the same). segctl's metadata goes
both into ``model.json``'s ``userDefinedMetadata.segctl`` (what a browser app reads) and into
``metadata.yaml`` beside it (what the backend reads first).

Verification runs the written folder through :class:`~segctl_export_tfjs.backend.TfjsBackend`
(model.json + shards rebuilt into a TensorFlow graph), so what is compared with PyTorch is the
artifact itself. The plugin's tests also run it in TensorFlow.js on Node (``js/run_model.cjs``).
"""
from __future__ import annotations

import json
from pathlib import Path

from segctl.errors import ExportError
from segctl.export.base import Exporter
from segctl.export.metadata import read_yaml_metadata, write_yaml_metadata

from .graph_model import MODEL_JSON, write_graph_model
from .plugin import OPTIONS


def precision(args: dict) -> str:
    """The stored weight type for ``half``/``int8`` (kernels only; see :mod:`.graph_model`)."""
    return "uint8" if args.get("int8") else "float16" if args.get("half") else "float32"


def frozen_graph(pb: Path):
    """``(graph_def, inputs, outputs)`` of the ``pb`` step's artifact (tensor names from its metadata)."""
    import tensorflow as tf

    tensors = read_yaml_metadata(pb.parent, stem=pb.name).get("tensors") or {}
    if not tensors.get("inputs") or not tensors.get("outputs"):
        raise ExportError(f"{pb}: its metadata names no input/output tensors",
                          hint="export the .pb again with 'segctl export format=pb'")
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(pb.read_bytes())
    first = tensors["inputs"][0]
    return graph_def, {first.split(":")[0]: first}, dict(tensors["outputs"])


def write_user_metadata(model_dir: Path, metadata: dict) -> None:
    """Put ``metadata`` under ``userDefinedMetadata.segctl`` in ``model.json``. Written in place: the
    core calls this on the export's temporary folder, which it renames only once it is complete."""
    path = model_dir / MODEL_JSON
    spec = json.loads(path.read_text(encoding="utf-8"))
    spec.setdefault("userDefinedMetadata", {})["segctl"] = json.loads(json.dumps(metadata, default=str))
    path.write_text(json.dumps(spec), encoding="utf-8")


class TfjsExporter(Exporter):
    """``<stem>_web_model/`` folders: ``model.json``, ``group1-shard*of*.bin``, ``metadata.yaml``."""

    name = "tfjs"
    suffix = "_web_model"
    options = OPTIONS
    after = ("pb",)
    backend = "tfjs"
    is_dir = True
    tolerance = {"rtol": 1e-3, "atol": 2e-3, "iou": 0.99}
    tolerance_half = {"rtol": 2e-2, "atol": 0.25, "iou": 0.9}
    tolerance_int8 = {"rtol": 0.1, "atol": 4.0, "iou": 0.5}
    int8_parity_note = "uint8 weights: elementwise parity is informative only; judge by mask mAP"

    def export(self, model, output: Path, args: dict, deps: dict, metadata: dict) -> Path:
        from segctl import __version__

        graph_def, inputs, outputs = frozen_graph(Path(deps["pb"]))
        metadata["preprocess"] = {**metadata.get("preprocess", {}), "layout": "NHWC"}
        metadata["weights"] = precision(args)
        write_graph_model(graph_def, inputs, outputs, output, precision=precision(args), metadata=metadata,
                          converted_by=f"segctl {__version__}")
        write_yaml_metadata(output, metadata)
        return output

    def write_metadata(self, path: Path, metadata: dict) -> None:
        write_user_metadata(path, metadata)
        write_yaml_metadata(path, metadata)
