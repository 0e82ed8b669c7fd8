"""Entry point of the ncnn plugin: registers the ``ncnn`` exporter and backend.

Only specs here (no torch/ncnn import), so ``segctl --help`` and ``segctl plugins`` stay fast.
The exporter builds on the verified, static-shape ONNX artifact (``after=("onnx",)``), which PNNX
converts to ncnn. ``dynamic`` and ``nms`` are not offered: ncnn has no operators for the anchor
grid computed from the input shape, nor for NMS, so they would silently not convert.
"""
from segctl import hookimpl
from segctl.specs import BackendSpec, ExporterSpec

INSTALL = "pip install pnnx==20260526 ncnn==1.0.20261020"

OPTIONS = ("imgsz", "half", "simplify", "opset", "device")


@hookimpl
def segctl_register_exporters():
    return [ExporterSpec(
        name="ncnn", target="segctl_export_ncnn.exporter:NcnnExporter",
        requires=("torch", "pnnx", "ncnn"), install=INSTALL,
        suffix="_ncnn_model", options=OPTIONS, after=("onnx",), backend="ncnn",
        description="ncnn param/bin via PNNX: fp32 or half=True (fp16 weights); fixed input size",
    )]


@hookimpl
def segctl_register_backends():
    return [BackendSpec(
        name="ncnn", target="segctl_export_ncnn.backend:NcnnBackend",
        requires=("ncnn",), install=INSTALL, suffixes=("_ncnn_model",),
        description="runs _ncnn_model/ folders with the ncnn Python package (CPU)",
    )]
