"""The CoreML backend: runs a ``.mlpackage`` with Core ML, which exists only on macOS.

Why refuse elsewhere at load time: coremltools can read and convert models on Linux but its
``predict`` raises deep inside; a predict/val run should fail at once with one clear line instead.
On macOS each image of the batch is turned back into 8-bit RGB pixels (the model's image input
does the 1/255 scaling) and run on the CPU (``CPU_ONLY``), so results do not depend on which
accelerator Core ML would pick.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from segctl.errors import UsageError
from segctl.export.backends import Backend

from .exporter import OUTPUTS
from .spec_check import read_metadata


class CoreMLBackend(Backend):
    def __init__(self, path, device="cpu", session=None):
        self.path = Path(path)
        self.device = str(device)
        meta = read_metadata(self.path)
        meta.setdefault("format", "coreml")
        meta["nms"] = False
        self.metadata = meta
        if sys.platform != "darwin":
            raise UsageError(f"{self.path}: CoreML models can only be run on macOS",
                             hint="on this machine use the onnx, openvino or torchscript artifact")
        import coremltools as ct

        self.model = ct.models.MLModel(str(self.path), compute_units=ct.ComputeUnit.CPU_ONLY)

    def __call__(self, x):
        from PIL import Image

        dev = x.device if isinstance(x, torch.Tensor) else torch.device("cpu")
        arr = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)
        outs: list[list[np.ndarray]] = [[], []]
        for img in arr:
            pixels = np.clip(img.transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
            res = self.model.predict({"image": Image.fromarray(pixels, "RGB")})
            for i, name in enumerate(OUTPUTS):
                outs[i].append(np.asarray(res[name], np.float32)[0])
        pred, proto = (torch.from_numpy(np.stack(o)).to(dev) for o in outs)
        return pred, proto
