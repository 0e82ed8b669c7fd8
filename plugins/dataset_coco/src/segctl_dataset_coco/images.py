"""Image file checks for COCO datasets: the same read-only rules as the YOLO format (zero bytes,
not an image, corrupt, truncated JPEG, smaller than 10 px, EXIF-aware size), so both formats skip
the same files for the same reasons. A broken file is reported, never "repaired"."""
from __future__ import annotations

import os


def check(path: str):
    """``((h, w), "")`` for a usable image (size as displayed, EXIF applied), else ``(None, reason)``."""
    from segctl_dataset_yolo.images import check_image

    if not os.path.exists(path):
        return None, "missing image: file not found"
    return check_image(path)
