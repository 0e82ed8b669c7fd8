"""segctl: plugin-based instance segmentation (YOLOv8-seg family).

Importing this package is cheap: no torch, no plugin loading, no files written. ``YOLO``/``Model``
are resolved lazily so ``from segctl import YOLO`` does not import torch until a model is used.
"""
from __future__ import annotations

import pluggy

from ._version import __version__

hookimpl = pluggy.HookimplMarker("segctl")

__all__ = ["__version__", "hookimpl", "Model", "YOLO", "Session"]


def __getattr__(name: str):
    if name in ("Model", "YOLO"):
        from .model import Model

        return Model
    if name == "Session":
        from .session import Session

        return Session
    raise AttributeError(f"module 'segctl' has no attribute {name!r}")
