"""Entry-point module of the YOLOv8 architecture plugin.

Registration only: specs name their targets as strings, so nothing heavy (torch, numpy) is imported
here. The checkpoint hook imports the legacy reader only when a file actually needs it.
"""
from __future__ import annotations

from segctl import hookimpl
from segctl.specs import BackendSpec, LayerSpec, ModelConfigSpec

_PKG = "segctl_models_yolov8"
_TORCH = ("torch",)
_LAYERS = {
    "Conv": "", "Bottleneck": "", "C2f": "", "SPPF": "", "Concat": "", "Upsample": "", "DFL": "", "Proto": "",
    "Detect": "detect", "Segment": "segment",
}
SCALES = ("n", "s", "m", "l", "x")


def _model_specs():
    specs = []
    for family, task, cfg, what in (("yolov8-seg", "segment", "configs/yolov8-seg.yaml", "instance segmentation"),
                                    ("yolov8", "detect", "configs/yolov8.yaml", "object detection")):
        target = f"{_PKG}:{cfg}"
        specs.append(ModelConfigSpec(name=family, target=target, task=task, scale="n", requires=_TORCH,
                                     description=f"YOLOv8 {what} (scale n unless scale= is given)"))
        for s in SCALES:
            name = family.replace("yolov8", f"yolov8{s}")
            specs.append(ModelConfigSpec(name=name, target=target, task=task, scale=s, requires=_TORCH,
                                         description=f"YOLOv8-{s} {what}"))
    return specs


@hookimpl
def segctl_register_models():
    layers = [LayerSpec(name=n, target=f"{_PKG}.layers:{n}", task=t, requires=_TORCH,
                        description=f"YOLOv8 {n} layer") for n, t in _LAYERS.items()]
    return layers + _model_specs()


@hookimpl
def segctl_register_backends():
    return [BackendSpec(name="pytorch", target="segctl.nn.backend:TorchBackend",
                        suffixes=(".pt", ".yaml", ".yml", ".safetensors"), requires=_TORCH,
                        install="pip install torch==2.14.1 numpy safetensors",
                        description="PyTorch: segctl/YOLOv8 checkpoints and model YAMLs")]


@hookimpl
def segctl_read_checkpoint(path, unsafe_globals):
    """Answer for Ultralytics pickles only (any ``ultralytics.*`` global); others get ``None``."""
    from .legacy import is_ultralytics, read_ultralytics

    if not is_ultralytics(unsafe_globals):
        return None
    return read_ultralytics(path)


@hookimpl
def segctl_resolve_uri(uri, kind, session):
    """Named YOLOv8 weights (``yolov8n-seg.pt``) and http(s) URLs: weights dir, else download."""
    if kind != "weights":
        return None
    from .weights import resolve

    return resolve(str(uri))
