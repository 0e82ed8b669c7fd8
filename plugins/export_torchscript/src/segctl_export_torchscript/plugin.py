"""Entry point of the TorchScript plugin: registers the ``torchscript`` exporter and backend.

Only specs here (no torch import), so ``segctl --help`` and ``segctl plugins`` stay fast.
"""
from segctl import hookimpl
from segctl.specs import BackendSpec, ExporterSpec

OPTIONS = ("imgsz", "batch", "optimize", "half", "dynamic", "device", "nms", "conf", "iou", "max_det", "retina_masks")


@hookimpl
def segctl_register_exporters():
    return [ExporterSpec(
        name="torchscript", target="segctl_export_torchscript.exporter:TorchScriptExporter",
        requires=("torch",), install="pip install torch==2.14.1", aliases=("ts",),
        suffix=".torchscript", options=OPTIONS, backend="torchscript",
        description="TorchScript: traced graph with metadata in its extra files",
    )]


@hookimpl
def segctl_register_backends():
    return [BackendSpec(
        name="torchscript", target="segctl_export_torchscript.backend:TorchScriptBackend",
        requires=("torch",), install="pip install torch==2.14.1", suffixes=(".torchscript",),
        description="runs .torchscript artifacts with torch.jit",
    )]
