"""Entry point of the TF.js plugin: registers the ``tfjs`` exporter and backend (specs only).

The exporter needs nothing beyond the TensorFlow chain it builds on (onnx -> saved_model -> pb):
segctl writes the graph-model format itself (no ``tensorflowjs`` package), so the install command
is the same as the SavedModel plugin's.
"""
from segctl import hookimpl
from segctl.specs import BackendSpec, ExporterSpec
from segctl_export_saved_model.plugin import INSTALL

OPTIONS = ("imgsz", "batch", "half", "int8", "device")


@hookimpl
def segctl_register_exporters():
    return [ExporterSpec(
        name="tfjs", aliases=("web_model", "tensorflowjs"), target="segctl_export_tfjs.exporter:TfjsExporter",
        requires=("tensorflow",), install=INSTALL, suffix="_web_model", options=OPTIONS,
        after=("pb",), backend="tfjs",
        description="TensorFlow.js graph model (model.json + weight shards) from the frozen GraphDef",
    )]


@hookimpl
def segctl_register_backends():
    return [BackendSpec(
        name="tfjs", target="segctl_export_tfjs.backend:TfjsBackend", requires=("tensorflow",),
        install=INSTALL, suffixes=("_web_model",),
        description="runs <stem>_web_model/ (model.json + shards) with TensorFlow",
    )]
