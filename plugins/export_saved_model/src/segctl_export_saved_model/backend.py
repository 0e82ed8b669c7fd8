"""The TensorFlow backend for ``<stem>_saved_model/`` folders.

Reads ``metadata.yaml`` from the folder and calls the ``serving_default`` signature: NCHW torch in,
NHWC to TensorFlow, ``(pred, proto)`` torch tensors back on the input's device. TensorFlow runs on
the CPU here (the ``tensorflow-cpu`` build), whatever ``device`` says.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from segctl.errors import CheckpointError
from segctl.export.metadata import read_yaml_metadata

from .backend_base import OUTPUTS, TensorFlowBackendBase
from .convert import SIGNATURE


def default_metadata(fmt: str, shape: list, nc: int | None) -> dict:
    """What a segctl TF artifact without ``metadata.yaml`` is assumed to be (named in the log)."""
    names = {i: f"class{i}" for i in range(nc or 0)}
    return {"format": fmt, "task": "segment", "names": names, "nc": len(names), "stride": 32,
            "strides": [8.0, 16.0, 32.0], "imgsz": [int(shape[1]), int(shape[2])] if len(shape) == 4 and shape[1] else None,
            "batch": int(shape[0]) if shape and shape[0] else 1, "half": False, "int8": False, "nms": False}


class SavedModelBackend(TensorFlowBackendBase):
    def __init__(self, path, device="cpu", session=None):
        import tensorflow as tf

        self.path = Path(path)
        self.device = str(device)
        try:
            self._loaded = tf.saved_model.load(str(self.path))
            self._fn = self._loaded.signatures[SIGNATURE]
        except Exception as e:  # noqa: BLE001 - any load failure means an unusable folder
            raise CheckpointError(f"{self.path}: not a loadable SavedModel ({type(e).__name__}: {e})",
                                  hint="export it again with 'segctl export format=saved_model'") from e
        spec = self._fn.structured_input_signature[1]
        self._input, tensor_spec = next(iter(spec.items()))
        shape = tensor_spec.shape.as_list()
        outs = self._fn.structured_outputs
        self._outputs = [k for k in OUTPUTS if k in outs] or sorted(outs)
        meta = read_yaml_metadata(self.path)
        nc = int(outs[self._outputs[0]].shape[1]) - 4 - 32 if not meta else None
        self.metadata = meta or default_metadata("saved_model", shape, nc)
        self.batch = shape[0]

    @property
    def file(self) -> Path:
        return self.path

    def _run(self, x: np.ndarray) -> list[np.ndarray]:
        import tensorflow as tf

        out = self._fn(**{self._input: tf.constant(x)})
        return [out[k].numpy() for k in self._outputs]
