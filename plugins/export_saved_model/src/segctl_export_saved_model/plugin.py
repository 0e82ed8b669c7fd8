"""Entry point of the SavedModel plugin: registers the ``saved_model`` exporter and backend.

Only specs here (no tensorflow/torch import), so ``segctl --help`` and ``segctl plugins`` stay fast.
"""
from segctl import hookimpl
from segctl.specs import BackendSpec, ExporterSpec

#: ``nms`` and ``dynamic`` are left out on purpose: onnx2tf's NonMaxSuppression and free spatial
#: sizes are not reliable enough to verify, so asking for them is an error naming these options.
OPTIONS = ("imgsz", "batch", "keras", "device")
#: the runtime of the TensorFlow chain (onnx -> saved_model -> pb/tflite/tfjs); the plugins are installed
#: already when this is shown, so the command names the packages, pinned as tested together
INSTALL = "pip install tensorflow-cpu==2.21.0 tf_keras==2.21.0 onnx2tf==1.28.8 onnx_graphsurgeon==0.6.1 sng4onnx==2.0.1 psutil onnx==1.23.2"


@hookimpl
def segctl_register_exporters():
    return [ExporterSpec(
        name="saved_model", aliases=("savedmodel", "tensorflow"),
        target="segctl_export_saved_model.exporter:SavedModelExporter",
        requires=("tensorflow", "onnx2tf", "onnx", "tf_keras"), install=INSTALL,
        suffix="_saved_model", options=OPTIONS, after=("onnx",), backend="saved_model",
        description="TensorFlow SavedModel (NHWC input, ONNX default output layout), via onnx2tf",
    )]


@hookimpl
def segctl_register_backends():
    return [BackendSpec(
        name="saved_model", target="segctl_export_saved_model.backend:SavedModelBackend",
        requires=("tensorflow",), install=INSTALL, suffixes=("_saved_model",),
        description="runs <stem>_saved_model/ folders with TensorFlow",
    )]
