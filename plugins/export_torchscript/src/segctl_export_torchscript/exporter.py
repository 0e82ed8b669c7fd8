"""The TorchScript exporter: ``torch.jit.trace`` of the eval-mode model (or of the ``nms=True``
end-to-end wrapper), optionally optimised for mobile, with segctl's metadata in the archive's
``_extra_files["config.txt"]`` so the backend never guesses names, strides or layout.
"""
from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch

from segctl.errors import UsageError
from segctl.export.base import Exporter
from segctl.export.e2e import end2end
from segctl.export.metadata import torchscript_extra_files

from .plugin import OPTIONS


class TorchScriptExporter(Exporter):
    """``.torchscript`` artifacts (the JIT archive format, loadable with ``torch.jit.load``)."""

    name = "torchscript"
    suffix = ".torchscript"
    options = OPTIONS
    backend = "torchscript"

    def export(self, model, output: Path, args: dict, deps: dict, metadata: dict) -> Path:
        if args.get("optimize") and args.get("half"):
            raise UsageError("torchscript: optimize=True (mobile) needs fp32; drop half=True",
                             hint="mobile optimisation rewrites fp32 convolutions only")
        device = torch.device(args.get("device") or "cpu")
        module = end2end(model, args, metadata["nc"]) if args.get("nms") else model
        x = torch.zeros((args["batch"], 3, *args["imgsz"]), device=device)
        if args.get("half"):
            module, x = copy.deepcopy(module).half(), x.half()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream, still supported
            traced = torch.jit.trace(module, x, strict=False, check_trace=False)
        if args.get("optimize"):
            from torch.backends import xnnpack
            from torch.utils.mobile_optimizer import optimize_for_mobile

            if not xnnpack.enabled:
                raise UsageError("torchscript: optimize=True needs a torch build with XNNPACK, and this one has none",
                                 hint="export without optimize=True, or on a machine whose torch has XNNPACK")
            traced = optimize_for_mobile(traced)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            torch.jit.save(traced, str(output), _extra_files=torchscript_extra_files(metadata))
        return output

    def write_metadata(self, path: Path, metadata: dict) -> None:
        """Re-save the archive with updated extra files (the graph and weights are unchanged)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            loaded = torch.jit.load(str(path))
            torch.jit.save(loaded, str(path), _extra_files=torchscript_extra_files(metadata))
