"""Entry point of the TF.js plugin: registers the ``tfjs`` exporter and backend (specs only)."""
from segctl import hookimpl
from segctl.specs import BackendSpec, ExporterSpec

OPTIONS = ("imgsz", "batch", "half", "int8", "device")
#: the converter's dependency set conflicts with TF 2.21 (see pyproject.toml): an environment of its own
INSTALL = ("make install-tfjs  # a venv of its own (.venv-tfjs): the TF 2.16 runtime set, then tensorflowjs==4.22.0 "
           "and the saved_model/pb/tfjs plugins with --no-deps (they pin TF 2.21); see docs/export-tensorflow.md")


@hookimpl
def segctl_register_exporters():
    return [ExporterSpec(
        name="tfjs", aliases=("web_model", "tensorflowjs"), target="segctl_export_tfjs.exporter:TfjsExporter",
        requires=("tensorflowjs", "tensorflow"), install=INSTALL, suffix="_web_model", options=OPTIONS,
        after=("saved_model",), backend="tfjs",
        description="TensorFlow.js graph model (model.json + weight shards) from the SavedModel",
    )]


@hookimpl
def segctl_register_backends():
    return [BackendSpec(
        name="tfjs", target="segctl_export_tfjs.backend:TfjsBackend", requires=("tensorflow",),
        install="pip install tensorflow-cpu  # the web model's graph runs in TensorFlow",
        suffixes=("_web_model",), description="runs <stem>_web_model/ (model.json + shards) with TensorFlow",
    )]
