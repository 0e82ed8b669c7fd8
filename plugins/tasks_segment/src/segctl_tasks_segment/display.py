"""Showing an annotated image on screen (``show=True``, ``Results.show()``).

Why a module of its own: segctl depends on ``opencv-python-headless`` (no GUI, so servers and CI
need no X libraries), which makes ``cv2.imshow`` raise. A user at a desktop still expects a window,
so showing tries OpenCV's window first (present when the full ``opencv-python`` is installed), then
Pillow's image viewers (``xdg-open``, ``display``, ``eog``, ...), and otherwise says what to do
instead of failing silently or with OpenCV's bare "function is not implemented".
"""
from __future__ import annotations

import numpy as np

from segctl.errors import UsageError

NO_DISPLAY_HINT = ("save the annotated images instead (save=True, or results.save()); for windows install the "
                   "OpenCV build with a GUI: pip uninstall -y opencv-python-headless && pip install opencv-python")


def show_image(bgr: np.ndarray, title: str, wait_ms: int = 1) -> str:
    """Show a BGR image; returns which route showed it (``"opencv"`` or ``"viewer"``).

    :raises UsageError: neither route works here (headless OpenCV and no image viewer)."""
    import cv2

    try:
        cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
        cv2.imshow(title, bgr)
        cv2.waitKey(wait_ms)
        return "opencv"
    except cv2.error:
        pass
    try:
        from PIL import Image, ImageShow
    except ImportError:  # pragma: no cover - pillow comes with torchvision
        ImageShow = None
    if ImageShow is not None and ImageShow.show(Image.fromarray(np.ascontiguousarray(bgr[..., ::-1])), title=title):
        return "viewer"
    raise UsageError(f"cannot show {title}: OpenCV here has no GUI (opencv-python-headless) and no image viewer "
                     "was found", hint=NO_DISPLAY_HINT)
