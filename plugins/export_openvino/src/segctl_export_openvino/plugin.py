"""Entry point of the OpenVINO plugin: registers the ``openvino`` exporter and backend.

Only specs here (no openvino/torch import), so ``segctl --help`` and ``segctl plugins`` stay fast.
The exporter builds on the ``onnx`` format (``after=("onnx",)``): the ONNX graph is the one already
verified against PyTorch, so OpenVINO converts a known-good graph instead of re-tracing the model.
"""
from segctl import hookimpl
from segctl.specs import BackendSpec, ExporterSpec

INSTALL = "pip install openvino==2026.4.1 nncf==3.4.0"

#: options handed through to the ONNX step (imgsz, batch, half, dynamic, simplify, opset, nms...)
#: plus int8 calibration (int8, data, fraction) done here with NNCF
OPTIONS = ("imgsz", "batch", "half", "int8", "dynamic", "data", "fraction", "simplify", "opset", "device",
           "nms", "conf", "iou", "max_det")


@hookimpl
def segctl_register_exporters():
    return [ExporterSpec(
        name="openvino", target="segctl_export_openvino.exporter:OpenVinoExporter",
        requires=("torch", "openvino"), install=INSTALL, aliases=("ov",),
        suffix="_openvino_model", options=OPTIONS, after=("onnx",), backend="openvino",
        description="OpenVINO IR: fp32, half=True (fp16 weights), int8=True (NNCF, calibrated on data=)",
    )]


@hookimpl
def segctl_register_backends():
    return [BackendSpec(
        name="openvino", target="segctl_export_openvino.backend:OpenVinoBackend",
        requires=("openvino",), install=INSTALL, suffixes=("_openvino_model",),
        description="runs _openvino_model/ folders with the OpenVINO runtime on CPU",
    )]
