"""Where named YOLOv8 weights come from: ``model=yolov8n-seg.pt`` that is not on disk.

Looked up in the weights directory (``SEGCTL_WEIGHTS_DIR``, default ``~/.cache/segctl/weights``),
else downloaded from ``SEGCTL_WEIGHTS_URL`` (a template with ``{name}``; default the public
YOLOv8 release assets) with a SHA-256 check when ``SEGCTL_WEIGHTS_SHA256`` names one
(``name=hex,name=hex``). Only YOLOv8 names and explicit http(s) URLs are answered, so other
plugins can resolve their own names.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_URL = "https://github.com/ultralytics/assets/releases/download/v8.2.0/{name}"
_NAME = re.compile(r"^yolov8[nslmx](-seg)?\.pt$")


def weights_dir() -> Path:
    return Path(os.environ.get("SEGCTL_WEIGHTS_DIR") or Path.home() / ".cache" / "segctl" / "weights")


def expected_sha256(name: str) -> str | None:
    """The SHA-256 that ``SEGCTL_WEIGHTS_SHA256`` (``name=hex,name=hex``) names for ``name``, if any
    (public: other architecture plugins verify their named weights the same way)."""
    for item in os.environ.get("SEGCTL_WEIGHTS_SHA256", "").split(","):
        if "=" in item and item.split("=", 1)[0].strip() == name:
            return item.split("=", 1)[1].strip()
    return None


def resolve(uri: str) -> str | None:
    from segctl.nn.download import resolve_weights

    if uri.startswith(("http://", "https://")):
        name = uri.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        return str(resolve_weights(name, weights_dir(), uri.replace(name, "{name}"), expected_sha256(name)))
    name = Path(uri).name
    if not _NAME.match(name) or Path(uri).parent != Path("."):
        return None
    template = os.environ.get("SEGCTL_WEIGHTS_URL", DEFAULT_URL)
    return str(resolve_weights(name, weights_dir(), template, expected_sha256(name)))
