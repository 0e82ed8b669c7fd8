"""Entry point of the PaddlePaddle plugin: registers the ``paddle`` exporter and backend.

Only specs here (no torch/paddle import), so ``segctl --help`` and ``segctl plugins`` stay fast.
The exporter builds on the ONNX format (``after=("onnx",)``) and converts with X2Paddle.
``six`` is listed because X2Paddle imports it without declaring it.
"""
from segctl import hookimpl
from segctl.specs import BackendSpec, ExporterSpec

INSTALL = "pip install paddlepaddle==3.2.2 x2paddle==1.6.0 six==1.17.0 onnx==1.23.2"

OPTIONS = ("imgsz", "batch", "simplify", "device")


@hookimpl
def segctl_register_exporters():
    return [ExporterSpec(
        name="paddle", target="segctl_export_paddle.exporter:PaddleExporter",
        requires=("torch", "onnx", "paddle", "x2paddle", "six"), install=INSTALL, aliases=("paddlepaddle",),
        suffix="_paddle_model", options=OPTIONS, after=("onnx",), backend="paddle",
        description="PaddlePaddle inference model via X2Paddle (fp32, fixed input size)",
    )]


@hookimpl
def segctl_register_backends():
    return [BackendSpec(
        name="paddle", target="segctl_export_paddle.backend:PaddleBackend",
        requires=("paddle",), install=INSTALL, suffixes=("_paddle_model",),
        description="runs _paddle_model/ folders with Paddle Inference on the CPU",
    )]
