"""Entry point of the TFLite plugin: registers the ``tflite`` exporter and backend (specs only)."""
from segctl import hookimpl
from segctl.specs import BackendSpec, ExporterSpec

OPTIONS = ("imgsz", "batch", "half", "int8", "data", "fraction", "device")
INSTALL = "pip install tensorflow-cpu==2.21.0 tf_keras==2.21.0 onnx2tf==1.28.8 onnx_graphsurgeon==0.6.1 sng4onnx==2.0.1 psutil onnx==1.23.2 ai-edge-litert==2.3.0"


@hookimpl
def segctl_register_exporters():
    return [ExporterSpec(
        name="tflite", aliases=("litert",), target="segctl_export_tflite.exporter:TfliteExporter",
        requires=("tensorflow",), install=INSTALL, suffix=".tflite", options=OPTIONS, after=("saved_model",),
        backend="tflite", description="TFLite flatbuffer: fp32, half=True (fp16 weights), int8=True (calibrated on data=)",
    )]


@hookimpl
def segctl_register_backends():
    return [BackendSpec(
        name="tflite", target="segctl_export_tflite.backend:TfliteBackend", requires=("numpy",), install=INSTALL,
        suffixes=(".tflite",), description="runs .tflite files with the LiteRT interpreter (ai-edge-litert or tf.lite)",
    )]
