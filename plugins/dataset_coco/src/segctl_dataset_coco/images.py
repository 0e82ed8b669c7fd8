"""Image file checks for COCO datasets (read-only: a broken file is reported, never "repaired").

Why our own and not ``segctl_dataset_yolo.images.check_image``: that helper was meant to be
shared, but at the time of writing it reads EXIF before ``verify()`` and so rejects every PNG
("verify must be called directly after open"). This version keeps the same reasons and the same
rules (zero bytes, not an image, corrupt, truncated JPEG, smaller than 10 px, EXIF-aware size) so
both formats skip the same files.
"""
from __future__ import annotations

import os

MIN_SIDE = 10
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


def check(path: str):
    """``((h, w), "")`` for a usable image (size as displayed, EXIF applied), else ``(None, reason)``.
    Reasons start with a short category before ``:`` for summary counts."""
    from PIL import Image, UnidentifiedImageError

    if not os.path.exists(path):
        return None, "missing image: file not found"
    try:
        size = os.path.getsize(path)
    except OSError as e:
        return None, f"unreadable image: {e.strerror or e}"
    if size == 0:
        return None, "empty image file: 0 bytes"
    try:
        with Image.open(path) as img:
            fmt = (img.format or "").upper()
            img.verify()  # must come first after open
        with Image.open(path) as img:
            w, h = img.size
            try:
                orient = img.getexif().get(0x0112, 1)
            except Exception:  # a malformed EXIF block does not make the pixels unusable
                orient = 1
            if fmt in ("JPEG", "MPO"):
                img.load()  # verify() does not decode JPEG data
    except UnidentifiedImageError:
        return None, "not an image: cannot identify the file format"
    except Exception as e:  # PIL raises many types for damaged files
        return None, f"corrupt image: {type(e).__name__}: {e}"
    if fmt in ("JPEG", "MPO"):
        with open(path, "rb") as f:
            f.seek(max(size - 64, 0))
            if b"\xff\xd9" not in f.read():
                return None, "truncated JPEG: no end-of-image marker (FFD9); file left unchanged"
    shape = (w, h) if orient in _ROTATED else (h, w)
    if min(shape) < MIN_SIDE:
        return None, f"image too small: {shape[1]}x{shape[0]} (minimum {MIN_SIDE} px per side)"
    return shape, ""
