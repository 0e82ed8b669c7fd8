"""Entry point of the CoreML plugin: registers the ``coreml`` exporter and backend.

Only specs here (no torch/coremltools import), so ``segctl --help`` and ``segctl plugins`` stay fast.
No ``after=``: coremltools converts a traced PyTorch module (it has no ONNX frontend), and the
exporter traces the fp32 model itself because CoreML's own precision options (fp16 compute, int8
weights) apply to an fp32 source.
"""
from segctl import hookimpl
from segctl.specs import BackendSpec, ExporterSpec

#: the runtime, not this plugin (which is installed when this is shown). coremltools 9.0 segfaults in a
#: process with TensorFlow 2.21 and caps numpy, so next to the TensorFlow plugins it goes into an
#: environment of its own that segctl runs the format in (docs/export-formats.md, make install-coreml)
INSTALL = ('pip install coremltools==9.0 "numpy<=2.3.5"  # where TensorFlow is installed: in another venv, '
           "then SEGCTL_PYTHON_COREML=<that venv>/bin/python (make install-coreml)")

OPTIONS = ("imgsz", "half", "int8", "device")


@hookimpl
def segctl_register_exporters():
    return [ExporterSpec(
        name="coreml", target="segctl_export_coreml.exporter:CoreMLExporter",
        requires=("torch", "coremltools"), install=INSTALL, aliases=("mlpackage",),
        suffix=".mlpackage", options=OPTIONS, backend="coreml",
        description="CoreML ML Program: image input, fp32, half=True (fp16), int8=True (int8 weights)",
    )]


@hookimpl
def segctl_register_backends():
    return [BackendSpec(
        name="coreml", target="segctl_export_coreml.backend:CoreMLBackend",
        requires=("coremltools",), install=INSTALL, suffixes=(".mlpackage",),
        description="runs .mlpackage models with Core ML (macOS only)",
    )]
