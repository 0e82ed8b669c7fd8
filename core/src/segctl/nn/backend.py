"""``TorchBackend``: run a segctl model (a ``.pt``/``.safetensors``/YAML file, or a module) for
predict and val through the same Backend interface as exported artifacts.

Why a backend for the native format too: predictors and validators then have one code path for
every runtime, and export verification compares an artifact's backend with this one.
"""
from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import UsageError

_CKPT = (".pt", ".pth", ".safetensors")
_YAML = (".yaml", ".yml")


def _default_session():
    from ..session import Session

    return Session.create()


class TorchBackend:
    """Backend over a torch model. ``backend(x)`` returns the model's eval output (see contracts.md).

    ``path_or_model``: a checkpoint, a model YAML/registered name (random weights), or an
    ``nn.Module`` (copied before fusing, so a training model is never modified)."""

    def __init__(self, path_or_model, device="cpu", session=None, fuse: bool = True, half: bool = False):
        ckpt: dict = {}
        if isinstance(path_or_model, nn.Module):
            model = copy.deepcopy(path_or_model) if fuse else path_or_model
            self.path = None
        else:
            self.path = Path(path_or_model)
            session = session or _default_session()
            if self.path.suffix in _CKPT:
                from .checkpoint import load_checkpoint, model_from_checkpoint

                ckpt = load_checkpoint(self.path, session=session)
                model = model_from_checkpoint(ckpt, session=session)
            elif self.path.suffix in _YAML or not self.path.suffix:
                from .registry_helpers import build_from_session

                model = build_from_session(str(self.path), session)
                warnings.warn(f"model={self.path.name} is a configuration: its weights are random, so its "
                              "predictions and metrics mean nothing (pass trained weights, e.g. "
                              "runs/segment/train/weights/best.pt)", UserWarning, stacklevel=2)
            else:
                raise UsageError(f"the pytorch backend cannot load {self.path.name}",
                                 hint="use a .pt, .safetensors or .yaml model, or the backend of its export format")
        self.device = torch.device(device)
        self.fp16 = bool(half and self.device.type != "cpu")
        model = model.float().eval().to(self.device)
        if fuse and not getattr(model, "fused", False) and hasattr(model, "fuse"):
            model.fuse()
        if self.fp16:
            model.half()
        self.model = model
        self.task = getattr(model, "task", "") or ckpt.get("task", "")
        self.names = dict(getattr(model, "names", {}) or ckpt.get("names", {}))
        self.stride = [float(s) for s in getattr(model, "stride", torch.tensor([32.0])).tolist()]
        imgsz = ckpt.get("imgsz") or (ckpt.get("train_args") or {}).get("imgsz") or 640
        self.metadata = {
            "task": self.task, "names": self.names, "stride": self.stride, "imgsz": imgsz, "batch": 1,
            "dynamic": True, "half": self.fp16, "int8": False, "nms": False, "format": "pytorch",
        }

    def __call__(self, x):
        if not isinstance(x, torch.Tensor):
            x = torch.from_numpy(x)
        x = x.to(self.device, torch.float16 if self.fp16 else torch.float32)
        with torch.inference_mode():
            return self.model(x)

    def native(self, x):
        """The module's own forward on ``x`` (see ``segctl.export.Backend.native``)."""
        x = x.to(self.device, torch.float16 if self.fp16 else torch.float32)

        def run():
            with torch.inference_mode():
                return self.model(x)

        return run

    def warmup(self, imgsz=(1, 3, 640, 640)) -> None:
        """One forward on zeros so the first real batch is not slowed by lazy initialisation."""
        self(torch.zeros(imgsz))
