"""Read Ultralytics YOLO11 ``.pt`` files through the YOLOv8 plugin's safe reader.

The file format is the same pickle of the reference's classes; only more layer classes appear
(``C3k2``, ``C3k``, ``C2PSA``, ``PSABlock``, ``Attention``, ``DWConv``). Those names are added to the
allow-list as inert stand-ins, exactly like YOLOv8's: nothing is executed, anything else is refused.

The reference names its YOLO11 head ``Segment``/``Detect`` like YOLOv8's and switches the class
branch to the depthwise-separable form when the YAML holds C3k2 blocks. segctl registers that head
under its own names (``Segment11``/``Detect11``), so the checkpoint's YAML is rewritten to them here:
the rebuilt model then has the right parameter shapes and loads strictly.
"""
from __future__ import annotations

from pathlib import Path

YOLO11_CLASSES = {
    "ultralytics.nn.modules.block": ("C3k2", "C3k", "C2PSA", "PSABlock", "Attention"),
    "ultralytics.nn.modules.conv": ("DWConv",),
}
_MARKERS = frozenset(f"{m}.{n}" for m, names in YOLO11_CLASSES.items() for n in names)
# YAML layers after which the reference builds YOLO11's head
_NEW_HEAD_AFTER = frozenset({"C3k2"})
HEAD_NAMES = {"Segment": "Segment11", "Detect": "Detect11"}


def is_yolo11(unsafe_globals) -> bool:
    """Whether the listed pickle globals include a YOLO11 layer class."""
    return any(str(g) in _MARKERS for g in unsafe_globals)


def yolo11_yaml(cfg: dict) -> dict:
    """Rename the head of a reference YOLO11 YAML (``Segment`` → ``Segment11``); other YAMLs as given."""
    rows = list(cfg.get("backbone") or []) + list(cfg.get("head") or [])
    if not any(isinstance(r, (list, tuple)) and len(r) == 4 and r[2] in _NEW_HEAD_AFTER for r in rows):
        return cfg
    out = dict(cfg)
    for part in ("backbone", "head"):
        if isinstance(cfg.get(part), list):
            out[part] = [[r[0], r[1], HEAD_NAMES.get(r[2], r[2]), r[3]]
                         if isinstance(r, (list, tuple)) and len(r) == 4 and isinstance(r[2], str) else r
                         for r in cfg[part]]
    return out


def read_yolo11(path: str | Path) -> dict:
    """A plain segctl checkpoint dict from a reference YOLO11 ``.pt`` (see docs/contracts.md)."""
    from segctl_models_yolov8.legacy import read_ultralytics

    ckpt = read_ultralytics(path, extra_classes=YOLO11_CLASSES)
    ckpt["yaml"] = yolo11_yaml(ckpt["yaml"])
    return ckpt
