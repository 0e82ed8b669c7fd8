"""Entry-point module of the YOLO11 architecture plugin.

Registration only: specs name their targets as strings, so nothing heavy (torch) is imported here.
The layers Conv, SPPF, Concat and Upsample that YOLO11's YAML also uses come from the YOLOv8 plugin,
which this distribution depends on.
"""
from __future__ import annotations

from segctl import hookimpl
from segctl.specs import LayerSpec, ModelConfigSpec

_PKG = "segctl_models_yolo11"
_TORCH = ("torch",)
_LAYERS = {
    "DWConv": "", "C3k": "", "C3k2": "", "Attention": "", "PSABlock": "", "C2PSA": "",
    "Detect11": "detect", "Segment11": "segment",
}
SCALES = ("n", "s", "m", "l", "x")


def _model_specs():
    specs = []
    for family, task, cfg, what in (("yolo11-seg", "segment", "configs/yolo11-seg.yaml", "instance segmentation"),
                                    ("yolo11", "detect", "configs/yolo11.yaml", "object detection")):
        target = f"{_PKG}:{cfg}"
        specs.append(ModelConfigSpec(name=family, target=target, task=task, scale="n", requires=_TORCH,
                                     description=f"YOLO11 {what} (scale n unless scale= is given)"))
        for s in SCALES:
            specs.append(ModelConfigSpec(name=family.replace("yolo11", f"yolo11{s}"), target=target, task=task,
                                         scale=s, requires=_TORCH, description=f"YOLO11-{s} {what}"))
    return specs


@hookimpl
def segctl_register_models():
    layers = [LayerSpec(name=n, target=f"{_PKG}.layers:{n}", task=t, requires=_TORCH,
                        description=f"YOLO11 {n} layer") for n, t in _LAYERS.items()]
    return layers + _model_specs()


@hookimpl(tryfirst=True)
def segctl_read_checkpoint(path, unsafe_globals):
    """Answer for Ultralytics pickles holding YOLO11 layer classes (before the YOLOv8 reader,
    which would refuse them as outside its allow-list); others get ``None``."""
    from .checkpoint import is_yolo11, read_yolo11

    if not is_yolo11(unsafe_globals):
        return None
    return read_yolo11(path)


@hookimpl
def segctl_resolve_uri(uri, kind, session):
    """Named YOLO11 weights (``yolo11n-seg.pt``): weights dir, else the public release download."""
    if kind != "weights":
        return None
    from .weights import resolve

    return resolve(str(uri))
