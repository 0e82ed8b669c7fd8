"""Shared pieces of the TensorFlow-family backends (SavedModel, GraphDef, TF.js).

Why shared: every TF artifact segctl writes has the same I/O — input ``images`` [B,H,W,3] float
0..1 (NHWC), outputs ``output0``/``output1`` in the ONNX default layout — and a fixed batch size.
The predictor and validator hand over NCHW torch tensors of any batch size, so the conversion to
NHWC and the splitting/padding into the exported batch live here, once.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from segctl.export.backends import Backend

OUTPUTS = ("output0", "output1")


def to_nhwc(x) -> tuple[np.ndarray, object]:
    """``(NHWC float32 array, torch device or None)`` from an NCHW torch tensor or array."""
    dev = getattr(x, "device", None)
    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    return np.ascontiguousarray(arr.transpose(0, 2, 3, 1), dtype=np.float32), dev


def run_in_batches(fn: Callable[[np.ndarray], list[np.ndarray]], x: np.ndarray, batch: int | None) -> list[np.ndarray]:
    """Run ``fn`` on ``x`` in chunks of the model's fixed ``batch`` (the last chunk zero-padded and
    the padding dropped from the outputs); ``batch=None`` runs ``x`` as it is."""
    n = x.shape[0]
    if not batch or n == batch:
        return fn(x)
    parts: list[list[np.ndarray]] = []
    for i in range(0, n, batch):
        chunk = x[i:i + batch]
        k = chunk.shape[0]
        if k < batch:
            chunk = np.concatenate([chunk, np.zeros((batch - k, *chunk.shape[1:]), chunk.dtype)])
        parts.append([o[:k] for o in fn(chunk)])
    return [np.concatenate(col) for col in zip(*parts)]


class TensorFlowBackendBase(Backend):
    """Subclasses set ``metadata``, ``self.batch`` (fixed batch or None) and implement ``_run``
    (NHWC float32 array -> ``[output0, output1]`` numpy arrays)."""

    batch: int | None = None

    def _run(self, x: np.ndarray) -> list[np.ndarray]:
        raise TypeError(f"{type(self).__name__} does not implement _run")

    def check_size(self, x: np.ndarray) -> None:
        from segctl.errors import UsageError

        want = list(self.metadata.get("imgsz") or [])
        if want and list(x.shape[1:3]) != want:
            raise UsageError(f"{self.metadata.get('format', 'TensorFlow')} model expects {want[0]}x{want[1]} "
                             f"images, got {x.shape[1]}x{x.shape[2]}",
                             hint=f"use imgsz={want[0] if want[0] == want[1] else want} or export again with that size")

    def __call__(self, x):
        import torch

        arr, dev = to_nhwc(x)
        self.check_size(arr)
        pred, proto = run_in_batches(self._run, arr, self.batch)
        dev = dev if dev is not None else torch.device("cpu")
        return torch.from_numpy(np.asarray(pred, np.float32)).to(dev), torch.from_numpy(np.asarray(proto, np.float32)).to(dev)

    def native(self, x):
        arr, _ = to_nhwc(x)
        return lambda: self._run(arr)
