"""Entry point of the ONNX plugin: registers the ``onnx`` exporter and the ONNX Runtime backend.

Only specs here (no torch/onnx import), so ``segctl --help`` and ``segctl plugins`` stay fast.
"""
from segctl import hookimpl
from segctl.specs import BackendSpec, ExporterSpec

OPTIONS = ("imgsz", "batch", "half", "dynamic", "simplify", "opset", "device", "nms", "conf", "iou",
           "max_det", "retina_masks")


@hookimpl
def segctl_register_exporters():
    return [ExporterSpec(
        name="onnx", target="segctl_export_onnx.exporter:OnnxExporter",
        requires=("torch", "onnx", "onnxruntime", "onnxslim"), install="pip install onnx==1.23.2 onnxruntime==1.32.0 onnxslim==0.1.98",
        suffix=".onnx", options=OPTIONS, backend="onnx",
        description="ONNX: default YOLOv8-seg layout or an end-to-end graph (nms=True)",
    )]


@hookimpl
def segctl_register_backends():
    return [BackendSpec(
        name="onnx", target="segctl_export_onnx.backend:OnnxBackend",
        requires=("onnx", "onnxruntime"), install="pip install onnx==1.23.2 onnxruntime==1.32.0 onnxslim==0.1.98", suffixes=(".onnx",),
        description="runs .onnx artifacts with ONNX Runtime (CUDA provider when present)",
    )]
