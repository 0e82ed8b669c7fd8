"""Checking one image file without modifying it.

Why read-only: a verification pass that "repairs" files in place (re-saving a truncated JPEG) changes
the user's data behind their back and hides the problem. Here a broken file is reported and skipped;
the source bytes are never written. The returned shape is the *displayed* one (EXIF orientation
applied, as ``PIL.ImageOps.exif_transpose`` and OpenCV's ``imread`` do), so label normalisation and
the decoded training array agree.
"""
from __future__ import annotations

import os
import warnings

IMG_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".dng", ".mpo", ".pfm")
MIN_SIDE = 10  # images smaller than this (either side) are skipped
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_EXIF_ORIENTATION = 0x0112


def max_image_pixels() -> int:
    """Largest image (width x height, from the file header) that is ever decoded: 100 megapixels
    unless ``SEGCTL_MAX_IMAGE_PIXELS`` says otherwise. Why: a 40 KB PNG can declare 50 000 x 50 000
    pixels (7.5 GB decoded); the header is read first and such a file is skipped undecoded."""
    try:
        return int(os.environ.get("SEGCTL_MAX_IMAGE_PIXELS", "") or 100_000_000)
    except ValueError:
        return 100_000_000


def too_large(w: int, h: int) -> str:
    """The skip reason for a declared size above :func:`max_image_pixels`, else ''."""
    limit = max_image_pixels()
    if w * h > limit:
        return (f"image too large: {w}x{h} = {w * h:,} pixels declared (limit {limit:,}; "
                "set SEGCTL_MAX_IMAGE_PIXELS to raise it); not decoded")
    return ""


def exif_shape(img) -> tuple[int, int]:
    """(h, w) of a PIL image as displayed, i.e. after its EXIF orientation is applied."""
    w, h = img.size
    try:
        orient = img.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # malformed EXIF block: treat as no orientation, the pixels are still fine
        orient = 1
    return (w, h) if orient in _ROTATED else (h, w)


def check_image(path: str) -> tuple[tuple[int, int] | None, str]:
    """Return ``((h, w), "")`` for a usable image, else ``(None, reason)``.

    Reasons start with a short category before ``:`` (used for summary counts).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        size = os.path.getsize(path)
    except OSError as e:
        return None, f"unreadable image: {e.strerror or e}"
    if size == 0:
        return None, "empty image file: 0 bytes"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit, below
            with Image.open(path) as img:  # reads the header only
                big = too_large(*img.size)
        if big:
            return None, big
        with Image.open(path) as img:
            fmt = (img.format or "").upper()
            img.verify()  # structure / checksum check without a full decode (must come first)
        with Image.open(path) as img:  # verify() leaves the image unusable: reopen for EXIF
            shape = exif_shape(img)
    except UnidentifiedImageError:
        return None, "not an image: cannot identify the file format"
    except Exception as e:  # PIL raises many types for damaged files
        return None, f"corrupt image: {type(e).__name__}: {e}"
    if fmt in ("JPEG", "MPO"):
        with open(path, "rb") as f:
            f.seek(max(size - 64, 0))
            tail = f.read()
        if b"\xff\xd9" not in tail:
            return None, "truncated JPEG: no end-of-image marker (FFD9); file left unchanged"
        err = _decode_check(path)
        if err:
            return None, f"corrupt image: {err}"
    if min(shape) < MIN_SIDE:
        return None, f"image too small: {shape[1]}x{shape[0]} (minimum {MIN_SIDE} px per side)"
    return shape, ""


def _decode_check(path: str) -> str:
    """Fully decode a JPEG (``verify`` does not for JPEG); '' when it decodes cleanly."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return ""
