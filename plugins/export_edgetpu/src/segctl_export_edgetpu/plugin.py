"""Entry point of the Edge TPU plugin: registers the ``edgetpu`` exporter and backend (specs only)."""
from segctl import hookimpl
from segctl.specs import BackendSpec, ExporterSpec

OPTIONS = ("imgsz", "batch", "data", "fraction", "device")
COMPILER = "edgetpu_compiler"
INSTALL_COMPILER = (
    "the Edge TPU compiler (x86-64 Linux only) comes from Coral's apt repository: "
    "curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo gpg --dearmor -o /usr/share/keyrings/coral.gpg && "
    "echo 'deb [signed-by=/usr/share/keyrings/coral.gpg] https://packages.cloud.google.com/apt coral-edgetpu-stable main' "
    "| sudo tee /etc/apt/sources.list.d/coral-edgetpu.list && sudo apt-get update && sudo apt-get install edgetpu-compiler"
)
INSTALL = "pip install tensorflow-cpu==2.21.0 tf_keras==2.21.0 onnx2tf==1.28.8 onnx_graphsurgeon==0.6.1 sng4onnx==2.0.1 psutil onnx==1.23.2 ai-edge-litert==2.3.0  # plus the edgetpu_compiler binary, see docs/export-tensorflow.md"


@hookimpl
def segctl_register_exporters():
    return [ExporterSpec(
        name="edgetpu", aliases=("coral",), target="segctl_export_edgetpu.exporter:EdgeTpuExporter",
        requires=("tensorflow",), install=INSTALL, programs=(COMPILER,), programs_install=INSTALL_COMPILER,
        suffix="_edgetpu.tflite", options=OPTIONS,
        after=("saved_model",), backend="edgetpu",
        description="Coral Edge TPU: full-integer TFLite (calibrated on data=) compiled by edgetpu_compiler",
    )]


@hookimpl
def segctl_register_backends():
    return [BackendSpec(
        name="edgetpu", target="segctl_export_edgetpu.backend:EdgeTpuBackend", requires=("numpy",), install=INSTALL,
        suffixes=("_edgetpu.tflite",), description="runs *_edgetpu.tflite on a Coral device (libedgetpu delegate)",
    )]
