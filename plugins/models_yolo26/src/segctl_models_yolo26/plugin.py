"""Entry-point module of the YOLO26 architecture plugin.

Registration only: specs name their targets as strings, so nothing heavy (torch) is imported here.
YOLO26's YAML also uses YOLOv8's (Conv, Concat, Upsample) and YOLO11's (C3k2, C2PSA) layers, which
the distributions this one depends on register.
"""
from __future__ import annotations

from segctl import hookimpl
from segctl.specs import LayerSpec, ModelConfigSpec

_PKG = "segctl_models_yolo26"
_TORCH = ("torch",)
_LAYERS = {"SPPF26": "", "C3k2A": "", "Proto26": "", "Segment26": "segment"}
SCALES = ("n", "s", "m", "l", "x")


def _model_specs():
    family, target = "yolo26-seg", f"{_PKG}:configs/yolo26-seg.yaml"
    specs = [ModelConfigSpec(name=family, target=target, task="segment", scale="n", requires=_TORCH,
                             description="YOLO26 NMS-free instance segmentation (scale n unless scale= is given)")]
    for s in SCALES:
        specs.append(ModelConfigSpec(name=f"yolo26{s}-seg", target=target, task="segment", scale=s,
                                     requires=_TORCH, description=f"YOLO26-{s} NMS-free instance segmentation"))
    return specs


@hookimpl
def segctl_register_models():
    layers = [LayerSpec(name=n, target=f"{_PKG}.layers:{n}", task=t, requires=_TORCH,
                        description=f"YOLO26 {n} layer") for n, t in _LAYERS.items()]
    return layers + _model_specs()


@hookimpl(tryfirst=True)
def segctl_read_checkpoint(path, unsafe_globals):
    """Answer for Ultralytics pickles holding YOLO26 layer classes (before the YOLO11 and YOLOv8
    readers, which would refuse them as outside their allow-lists); others get ``None``."""
    from .checkpoint import is_yolo26, read_yolo26

    if not is_yolo26(unsafe_globals):
        return None
    return read_yolo26(path)
