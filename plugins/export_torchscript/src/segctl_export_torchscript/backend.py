"""The TorchScript backend: loads a ``.torchscript`` archive with its metadata and runs it.

Predict and val call it exactly like the PyTorch backend: ``backend(x)`` with ``x`` float 0..1
NCHW returns ``(pred, proto)`` — or, for ``nms=True`` archives, the five end-to-end outputs.
"""
from __future__ import annotations

import warnings

import torch

from segctl.errors import CheckpointError
from segctl.export.backends import Backend
from segctl.export.e2e import OUTPUT_NAMES
from segctl.export.metadata import TORCHSCRIPT_KEY, parse_torchscript_extra

try:  # registers torchvision::nms, used by nms=True archives
    import torchvision  # noqa: F401
except ImportError:  # only nms=True archives need it; loading them says so
    torchvision = None


class TorchScriptBackend(Backend):
    """Runs with the graph executor's optimisations off: the profiling executor re-specialises (and
    fuses) the graph over its first calls, which cost seconds each for a YOLO network on a CPU while
    the steady state is no faster than the plain interpreter (measured: docs/export-formats.md)."""

    def __init__(self, path, device="cpu", session=None):
        self.path = str(path)
        self.device = str(device)
        extra = {TORCHSCRIPT_KEY: ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream, still supported
                self.model = torch.jit.load(self.path, map_location=self.device, _extra_files=extra)
        except RuntimeError as e:
            raise CheckpointError(f"{self.path}: not a loadable TorchScript archive: {str(e).splitlines()[0]}",
                                  hint="re-export it with: segctl export format=torchscript model=...") from e
        self.model.train(False)
        self.metadata = parse_torchscript_extra(extra, self.path)

    def __call__(self, x):
        if not isinstance(x, torch.Tensor):
            x = torch.from_numpy(x)
        x = x.to(self.device, torch.float16 if self.fp16 else torch.float32)
        with torch.no_grad(), torch.jit.optimized_execution(False):
            out = self.model(x)
        if self.nms:
            return {k: (v.float() if v.is_floating_point() else v) for k, v in zip(OUTPUT_NAMES, out)}
        pred, proto = out
        return pred.float(), proto.float()

    def native(self, x):
        x = x.to(self.device, torch.float16 if self.fp16 else torch.float32)

        def run():
            with torch.no_grad(), torch.jit.optimized_execution(False):
                return self.model(x)

        return run
