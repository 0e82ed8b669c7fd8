"""Entry point of the GraphDef plugin: registers the ``pb`` exporter and backend (specs only)."""
from segctl import hookimpl
from segctl.specs import BackendSpec, ExporterSpec
from segctl_export_saved_model.plugin import INSTALL  # the same TensorFlow chain

OPTIONS = ("imgsz", "batch", "device")


@hookimpl
def segctl_register_exporters():
    return [ExporterSpec(
        name="pb", aliases=("graphdef", "frozen_graph"), target="segctl_export_pb.exporter:PbExporter",
        requires=("tensorflow",), install=INSTALL, suffix=".pb", options=OPTIONS, after=("saved_model",),
        backend="pb", description="frozen TensorFlow GraphDef (.pb) from the SavedModel",
    )]


@hookimpl
def segctl_register_backends():
    return [BackendSpec(
        name="pb", target="segctl_export_pb.backend:PbBackend", requires=("tensorflow",), install=INSTALL,
        suffixes=(".pb",), description="runs frozen .pb graphs with TensorFlow",
    )]
