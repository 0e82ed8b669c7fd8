"""Where named YOLO11 weights come from: ``model=yolo11n-seg.pt`` that is not on disk.

Looked up in the weights directory (``SEGCTL_WEIGHTS_DIR``, default ``~/.cache/segctl/weights``),
else downloaded from ``SEGCTL_YOLO11_WEIGHTS_URL`` (a template with ``{name}``; default the public
release assets that first shipped YOLO11) with a SHA-256 check when ``SEGCTL_WEIGHTS_SHA256``
names one. Only YOLO11 names are answered; URLs are left to the YOLOv8 plugin's resolver.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_URL = "https://github.com/ultralytics/assets/releases/download/v8.3.0/{name}"
_NAME = re.compile(r"^yolo11[nslmx](-seg)?\.pt$")


def resolve(uri: str) -> str | None:
    from segctl.nn.download import resolve_weights
    from segctl_models_yolov8.weights import expected_sha256, weights_dir

    name = Path(uri).name
    if not _NAME.match(name) or Path(uri).parent != Path("."):
        return None
    template = os.environ.get("SEGCTL_YOLO11_WEIGHTS_URL", DEFAULT_URL)
    return str(resolve_weights(name, weights_dir(), template, expected_sha256(name)))
