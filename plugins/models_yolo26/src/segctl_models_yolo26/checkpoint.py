"""Read Ultralytics YOLO26 ``.pt`` files through the YOLOv8 plugin's safe reader.

Same pickle format; more layer classes appear (``Proto26``, ``Segment26`` and YOLO11's ``C3k2``,
``C3k``, ``C2PSA``, ``PSABlock``, ``Attention``, ``DWConv``). They are added to the allow-list as
inert stand-ins: nothing is executed, anything else is refused.

The reference's YOLO26 YAML reuses the names ``SPPF`` and ``C3k2`` with extra arguments
(``[c2, k, n, shortcut]``; ``[c2, c3k, e, attn]``). segctl registers those variants as ``SPPF26``
and ``C3k2A`` (the plain names belong to YOLOv8's and YOLO11's classes), so such rows are renamed
here; the rebuilt model then has the right parameter shapes and loads strictly.
"""
from __future__ import annotations

from pathlib import Path

from segctl_models_yolo11.checkpoint import YOLO11_CLASSES

YOLO26_CLASSES = {
    "ultralytics.nn.modules.block": (*YOLO11_CLASSES["ultralytics.nn.modules.block"], "Proto26"),
    "ultralytics.nn.modules.conv": (*YOLO11_CLASSES["ultralytics.nn.modules.conv"],),
    "ultralytics.nn.modules.head": ("Segment26",),
}
_MARKERS = frozenset({"ultralytics.nn.modules.block.Proto26", "ultralytics.nn.modules.head.Segment26"})


def is_yolo26(unsafe_globals) -> bool:
    """Whether the listed pickle globals include a YOLO26 layer class."""
    return any(str(g) in _MARKERS for g in unsafe_globals)


def _rename(row):
    if not (isinstance(row, (list, tuple)) and len(row) == 4 and isinstance(row[2], str)):
        return row
    f, n, name, args = row
    args = list(args or [])
    if name == "SPPF" and len(args) > 2:
        name = "SPPF26"
    elif name == "C3k2" and len(args) > 3 and args[3] is True:
        name = "C3k2A"
    return [f, n, name, args]


def yolo26_yaml(cfg: dict) -> dict:
    """Rename the reference's extended ``SPPF``/``C3k2`` rows to segctl's ``SPPF26``/``C3k2A``."""
    out = dict(cfg)
    for part in ("backbone", "head"):
        if isinstance(cfg.get(part), list):
            out[part] = [_rename(r) for r in cfg[part]]
    return out


def read_yolo26(path: str | Path) -> dict:
    """A plain segctl checkpoint dict from a reference YOLO26 ``.pt`` (see docs/contracts.md)."""
    from segctl_models_yolov8.legacy import read_ultralytics

    ckpt = read_ultralytics(path, extra_classes=YOLO26_CLASSES)
    ckpt["yaml"] = yolo26_yaml(ckpt["yaml"])
    # the generic reader tells the task from a class named exactly "Segment"
    rows = list(ckpt["yaml"].get("head") or [])
    if rows and isinstance(rows[-1], (list, tuple)) and len(rows[-1]) == 4 and rows[-1][2] == "Segment26":
        ckpt["task"] = "segment"
    return ckpt
