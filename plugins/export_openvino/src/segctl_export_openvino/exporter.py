"""The OpenVINO exporter: ONNX artifact → OpenVINO IR (``.xml`` graph + ``.bin`` weights).

Why from the ONNX artifact: the chain exports and verifies ONNX first, so OpenVINO converts a graph
already known to match PyTorch, with the same I/O names and layouts (``images`` → ``output0``,
``output1``, or the five ``nms=True`` outputs). ``dynamic`` and ``batch`` therefore come from the
ONNX step. Precision:

- ``half=True``: fp16 weights (``compress_to_fp16``). The ONNX step is then fp16 too; its I/O are
  turned back to fp32 with a pre/post-processing step so every OpenVINO artifact takes and returns
  fp32 (the runtime decompresses the weights).
- ``int8=True``: post-training quantisation with NNCF on images from ``data=`` (see :mod:`.calib`).
  The box decoding at the end of the head (multiplies, subtractions, sigmoids) stays in floating
  point, since quantising pixel coordinates and scores costs accuracy for no speed.

The folder ``<stem>_openvino_model/`` holds ``<stem>.xml``, ``<stem>.bin`` and ``metadata.yaml``.
"""
from __future__ import annotations

import re
from pathlib import Path

from segctl.errors import MissingDependencyError
from segctl.export.base import Exporter

from .plugin import OPTIONS

_TMP = re.compile(r"^\.segctl-export-[0-9a-f]+-")


def artifact_stem(folder: Path, suffix: str) -> str:
    """``best`` for ``best_openvino_model`` (and for the core's temporary name of it)."""
    name = _TMP.sub("", folder.name)
    return (name[: -len(suffix)] if name.endswith(suffix) else name) or "model"


def float_io(ov_model):
    """Make fp16 inputs/outputs fp32 at the model boundary (integer outputs are left alone)."""
    import openvino as ov

    ppp = ov.preprocess.PrePostProcessor(ov_model)
    changed = False
    for i, port in enumerate(ov_model.inputs):
        if port.get_element_type() == ov.Type.f16:
            ppp.input(i).tensor().set_element_type(ov.Type.f32)
            changed = True
    for i, port in enumerate(ov_model.outputs):
        if port.get_element_type() == ov.Type.f16:
            ppp.output(i).tensor().set_element_type(ov.Type.f32)
            changed = True
    return ppp.build() if changed else ov_model


def head_patterns(ov_model) -> list[str]:
    """Name patterns of the head's decoding ops (DFL and the box arithmetic), which stay in float.

    The ONNX step names ops after the module path (``/model.22/dfl/conv/Conv``, ``/model.22/Add_2``):
    the head is the highest-numbered ``model.N``; its own ops (not those of its conv branches) and
    its DFL are the decoding."""
    indices = [int(m.group(1)) for op in ov_model.get_ordered_ops()
               if (m := re.match(r"^/model\.(\d+)/", op.get_friendly_name()))]
    if not indices:
        return []
    head = max(indices)
    return [rf"^/model\.{head}/dfl/.*", rf"^/model\.{head}/[^/]+$"]


def quantize(ov_model, images: list):
    """NNCF post-training int8 quantisation calibrated on ``images`` (float32 NCHW arrays)."""
    import logging

    try:
        import nncf
    except ImportError as e:
        raise MissingDependencyError("openvino int8=True needs nncf, which is not installed",
                                     hint="pip install nncf==3.4.0") from e
    nncf.set_log_level(logging.ERROR)
    keep_float = nncf.IgnoredScope(types=["Multiply", "Subtract", "Sigmoid"], patterns=head_patterns(ov_model),
                                   validate=False)
    return nncf.quantize(ov_model, nncf.Dataset(images), preset=nncf.QuantizationPreset.MIXED,
                         subset_size=len(images), ignored_scope=keep_float)


class OpenVinoExporter(Exporter):
    """``<stem>_openvino_model/`` folders (OpenVINO IR + metadata.yaml)."""

    name = "openvino"
    suffix = "_openvino_model"
    options = OPTIONS
    after = ("onnx",)
    backend = "openvino"
    is_dir = True
    #: int8 moves boxes by a few pixels and scores by a few hundredths; masks must still agree
    tolerance_int8 = {"rtol": 0.1, "atol": 4.0, "iou": 0.8}

    def export(self, model, output: Path, args: dict, deps: dict, metadata: dict) -> Path:
        import openvino as ov

        ov_model = float_io(ov.convert_model(str(deps["onnx"])))
        if args.get("int8"):
            from segctl.export.calib import calibration_images

            images = calibration_images(args.get("data"), self.session, args["imgsz"], args.get("fraction", 1.0))
            ov_model = quantize(ov_model, [im.repeat(int(args.get("batch", 1)), 0) for im in images])
        output.mkdir(parents=True, exist_ok=True)
        stem = artifact_stem(output, self.suffix)
        ov.save_model(ov_model, str(output / f"{stem}.xml"), compress_to_fp16=bool(args.get("half")))
        self.write_metadata(output, metadata)
        return output
