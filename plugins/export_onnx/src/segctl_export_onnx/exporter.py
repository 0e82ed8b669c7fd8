"""The ONNX exporter.

Why the TorchScript-based exporter (``dynamo=False``): on torch 2.14 the dynamo exporter needs
``onnxscript`` (not a dependency) and emits a different node layout; the tracing exporter gives the
same graph shape and I/O as the reference's fixture (input ``images``; outputs ``output0``
[B, 4+nc+32, N] and ``output1`` [B, 32, H/4, W/4]) at opset 18. ``nms=True`` exports the
:mod:`segctl.export.e2e` wrapper instead (outputs ``boxes scores classes masks num``).
After export the graph is optionally simplified with onnxslim, given segctl's metadata
(``metadata_props``) and checked with ``onnx.checker.check_model(full_check=True)``.
"""
from __future__ import annotations

import contextlib
import copy
import warnings
from pathlib import Path

import onnx
import torch

from segctl.errors import ExportError
from segctl.export.base import Exporter
from segctl.export.e2e import OUTPUT_NAMES, end2end
from segctl.export.metadata import to_props, write_onnx_metadata

from .plugin import OPTIONS

DEFAULT_OPSET = 18


def io_names(nms: bool) -> tuple[list[str], list[str]]:
    return ["images"], list(OUTPUT_NAMES) if nms else ["output0", "output1"]


def dynamic_axes(nms: bool) -> dict:
    """Batch, height and width of the input are free; outputs follow."""
    axes = {"images": {0: "batch", 2: "height", 3: "width"}}
    if nms:
        axes.update({"boxes": {0: "batch"}, "scores": {0: "batch"}, "classes": {0: "batch"},
                     "masks": {0: "batch", 2: "mask_height", 3: "mask_width"}, "num": {0: "batch"}})
    else:
        axes.update({"output0": {0: "batch", 2: "anchors"}, "output1": {0: "batch", 2: "mask_height", 3: "mask_width"}})
    return axes


@contextlib.contextmanager
def _arange_via_int():
    """Make ``torch.arange(n, dtype=float16)`` trace as an integer ``arange`` plus a cast.

    Why: torch 2.14's tracing exporter fails on a half-precision ``arange`` with a constant size
    ("tensor does not have a device"), which the anchor grid of every detection head uses. The
    values are small integers, so computing them as int64 and casting is exact."""
    original = torch.arange

    def arange(*args, dtype=None, **kwargs):
        if dtype in (torch.float16, torch.bfloat16):
            return original(*args, **kwargs).to(dtype)
        return original(*args, dtype=dtype, **kwargs)

    torch.arange = arange
    try:
        yield
    finally:
        torch.arange = original


class OnnxExporter(Exporter):
    """``.onnx`` artifacts in the default layout or end to end (``nms=True``)."""

    name = "onnx"
    suffix = ".onnx"
    options = OPTIONS
    backend = "onnx"

    def export(self, model, output: Path, args: dict, deps: dict, metadata: dict) -> Path:
        nms = bool(args.get("nms"))
        device = torch.device(args.get("device") or "cpu")
        module = end2end(model, args, metadata["nc"]) if nms else model
        x = torch.zeros((args["batch"], 3, *args["imgsz"]), device=device)
        if args.get("half"):
            module, x = copy.deepcopy(module).half(), x.half()
        inputs, outputs = io_names(nms)
        patch = _arange_via_int() if args.get("half") else contextlib.nullcontext()
        with torch.no_grad(), warnings.catch_warnings(), patch:
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module, (x,), str(output), dynamo=False, opset_version=args.get("opset") or DEFAULT_OPSET,
                input_names=inputs, output_names=outputs, do_constant_folding=True,
                dynamic_axes=dynamic_axes(nms) if args.get("dynamic") else None,
            )
        proto = onnx.load(str(output))
        if args.get("simplify", True):
            proto = self._simplify(proto)
        del proto.metadata_props[:]
        for key, value in to_props(metadata).items():
            proto.metadata_props.add(key=key, value=value)
        onnx.save(proto, str(output))
        try:
            onnx.checker.check_model(str(output), full_check=True)
        except onnx.checker.ValidationError as e:
            raise ExportError(f"the exported ONNX graph is invalid: {str(e).splitlines()[0]}",
                              hint="try another opset=... or simplify=False") from e
        return output

    @staticmethod
    def _simplify(proto):
        """onnxslim folds constants and removes redundant nodes; a failure keeps the plain graph."""
        try:
            import onnxslim

            return onnxslim.slim(proto)
        except Exception as e:  # noqa: BLE001 - simplification is an optimisation, never fatal
            warnings.warn(f"onnxslim could not simplify the graph ({type(e).__name__}: {e}); keeping it as exported",
                          stacklevel=2)
            return proto

    def write_metadata(self, path: Path, metadata: dict) -> None:
        write_onnx_metadata(path, metadata)
