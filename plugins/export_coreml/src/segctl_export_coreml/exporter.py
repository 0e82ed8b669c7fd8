"""The CoreML exporter: traced PyTorch model → ML Program ``.mlpackage`` with an image input.

Why an image input: Core ML apps hand the model pixel buffers; the ``ImageType`` input with scale
1/255 makes the model take RGB 0..255 images and do the 0..1 scaling itself, so no consumer has to.
The trace is made at the exported size after one forward pass, so the head's anchor grid is a
constant (CoreML models here have a fixed input size). Precision:

- fp32 by default (coremltools would otherwise pick fp16 compute for ML Programs);
- ``half=True``: fp16 compute and weights;
- ``int8=True``: int8 weights (linear symmetric quantisation of the fp32 program); activations
  stay floating point, so no calibration data is needed.

segctl's metadata goes in the model's user-defined metadata (one JSON string per key). On macOS the
artifact is verified numerically through the backend; elsewhere its interface and metadata are
checked (see :mod:`.spec_check`) and the parity record says so.
"""
from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path

from segctl.errors import UsageError
from segctl.export.base import Exporter
from segctl.export.metadata import to_props

from .plugin import OPTIONS

OUTPUTS = ("output0", "output1")


def quantize_weights(ml):
    import coremltools as ct

    op = ct.optimize.coreml.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8")
    return ct.optimize.coreml.linear_quantize_weights(ml, config=ct.optimize.coreml.OptimizationConfig(global_config=op))


def set_metadata(ml, meta: dict) -> None:
    ml.short_description = f"segctl {meta.get('task', 'segment')} model ({meta.get('nc')} classes)"
    ml.version = str(meta.get("segctl_version", ""))
    for key, value in to_props(meta).items():
        ml.user_defined_metadata[key] = value


class CoreMLExporter(Exporter):
    """``<stem>.mlpackage`` (Core ML ML Program package)."""

    name = "coreml"
    suffix = ".mlpackage"
    options = OPTIONS
    backend = "coreml"
    is_dir = True
    #: the image input rounds 0..1 floats to 8-bit pixels, so outputs move by ~1e-2 in fp32 too
    tolerance = {"rtol": 2e-2, "atol": 5e-2, "iou": 0.95}
    tolerance_half = {"rtol": 5e-2, "atol": 1e-1, "iou": 0.9}

    def export(self, model, output: Path, args: dict, deps: dict, metadata: dict) -> Path:
        import coremltools as ct
        import torch

        if args.get("batch", 1) != 1:
            raise UsageError("coreml exports batch 1 only", hint="drop batch=...")
        h, w = args["imgsz"]
        x = torch.zeros((1, 3, h, w), device=torch.device(args.get("device") or "cpu"))
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model(x)  # caches the anchor grid for this size, so the trace holds it as a constant
            traced = torch.jit.trace(model, x, strict=False, check_trace=False)
            ml = ct.convert(
                traced, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16,
                inputs=[ct.ImageType(name="image", shape=(1, 3, h, w), scale=1 / 255, bias=[0.0, 0.0, 0.0],
                                     color_layout=ct.colorlayout.RGB)],
                outputs=[ct.TensorType(name=n) for n in OUTPUTS],
                compute_precision=ct.precision.FLOAT16 if args.get("half") else ct.precision.FLOAT32,
            )
            if args.get("int8"):
                ml = quantize_weights(ml)
        set_metadata(ml, metadata)
        ml.save(str(output))
        return output

    def write_metadata(self, path: Path, metadata: dict) -> None:
        """Re-save the package with updated metadata (written beside it, then swapped in)."""
        import coremltools as ct

        ml = ct.models.MLModel(str(path), skip_model_load=True)
        set_metadata(ml, metadata)
        tmp = path.with_name(path.name[: -len(self.suffix)] + ".meta-tmp" + self.suffix)
        ml.save(str(tmp))
        shutil.rmtree(path)
        os.replace(tmp, path)

    def verify(self, artifact: Path, model, args: dict, metadata: dict) -> dict:
        from segctl.errors import ExportError

        from .spec_check import check_spec

        result = check_spec(artifact, metadata)
        if result["passed"] and sys.platform == "darwin":
            return super().verify(artifact, model, args, metadata)
        if not result["passed"] and args.get("verify", "fail") == "fail":
            raise ExportError(f"{artifact}: the CoreML model's interface is wrong: {'; '.join(result['problems'])}",
                              hint="pass verify=warn to keep the artifact anyway")
        return result
