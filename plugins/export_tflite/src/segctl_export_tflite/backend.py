"""The LiteRT backend for ``.tflite`` files (fp32, fp16 weights, int8 with float or int8 I/O).

Why ``ai-edge-litert`` first: it is the standalone TFLite runtime (no TensorFlow needed on a
device); ``tf.lite.Interpreter`` is the fallback. The model is called through its
``serving_default`` signature so outputs are found by name (``output0``/``output1``), not by the
converter's tensor order. Integer inputs are quantised and integer outputs dequantised with the
tensors' own scale/zero point, so predict/val see float outputs in the ONNX layout whatever the
precision. An int8 model converted from the split signature returns ``output0`` in parts
(``output0_part0..k``, each with its own scale); they are dequantised and joined here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from segctl.errors import CheckpointError
from segctl.export.metadata import read_yaml_metadata
from segctl_export_saved_model.backend_base import OUTPUTS, TensorFlowBackendBase
from segctl_export_saved_model.convert import PART_PREFIX

from . import flatbuffer_meta


def interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


def quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])


def dequantize(q: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    if not np.issubdtype(q.dtype, np.integer) or scale == 0:
        return q.astype(np.float32)
    return (q.astype(np.float32) - zero) * scale


class TfliteBackend(TensorFlowBackendBase):
    def __init__(self, path, device="cpu", session=None, num_threads: int | None = None, interpreter=None):
        self.path = Path(path)
        self.device = str(device)
        raw = self.path.read_bytes()
        try:
            self._interp = (interpreter or interpreter_class())(model_content=raw, num_threads=num_threads)
            self._runner = self._interp.get_signature_runner()
        except Exception as e:  # noqa: BLE001 - a corrupt or foreign flatbuffer
            raise CheckpointError(f"{self.path}: not a loadable TFLite model ({type(e).__name__}: {e})",
                                  hint="export it again with 'segctl export format=tflite'") from e
        self._in = self._runner.get_input_details()
        self._out = self._runner.get_output_details()
        self._input = next(iter(self._in))
        try:
            meta = flatbuffer_meta.read(raw)
        except Exception:  # noqa: BLE001 - unreadable metadata falls back to the companion file
            meta = {}
        meta = meta or read_yaml_metadata(self.path.parent, stem=self.path.name)
        shape = list(self._in[self._input]["shape"])
        if not meta:
            from segctl_export_saved_model.backend import default_metadata

            channels = sum(int(d["shape"][1]) for k, d in self._out.items() if k == OUTPUTS[0] or k.startswith(PART_PREFIX))
            meta = default_metadata("tflite", shape, channels - 36)
        self.metadata = meta
        self.batch = int(shape[0])

    @property
    def file(self) -> Path:
        return self.path

    def _run(self, x: np.ndarray) -> list[np.ndarray]:
        detail = self._in[self._input]
        feed = quantize(x, detail) if np.issubdtype(detail["dtype"], np.integer) else x.astype(detail["dtype"])
        out = self._runner(**{self._input: feed})
        if OUTPUTS[0] not in out:
            parts = sorted((k for k in out if k.startswith(PART_PREFIX)), key=lambda k: int(k[len(PART_PREFIX):]))
            out[OUTPUTS[0]] = np.concatenate([dequantize(out[k], self._out[k]) for k in parts], axis=1)
        return [dequantize(out[k], self._out[k]) if k in self._out else out[k] for k in OUTPUTS]
