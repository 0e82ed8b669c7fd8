"""Dataset index types shared by dataset-format plugins and tasks.

Why here: a format plugin (YOLO txt, COCO JSON, ...) only has to *describe* a split — files,
labels and what was wrong with them — and every task consumes that description the same way.
Nothing here imports numpy at module level; records hold numpy arrays made by the plugins.

A record (one image) is a plain dict:

``im_file``  str, absolute image path
``shape``    (h, w) of the image as displayed (EXIF orientation applied)
``cls``      int64 array (n,) contiguous class indices
``bboxes``   float32 array (n, 4) normalised cx, cy, w, h
``segments`` list of n float32 arrays (k_i, 2), normalised x, y polygon vertices
``rle``      optional list of n (``None`` or a COCO RLE dict ``{"size": [h, w], "counts": ...}``)
             for instances a single polygon cannot represent (holes, RLE annotations)
``iscrowd``  optional bool array (n,): crowd regions, never training targets, ignored in eval
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Issue:
    """One problem found while verifying a dataset. ``action`` says what was done about it:
    ``skipped`` (image dropped), ``dropped-row``, ``clipped``, ``deduplicated``, ``fixed``,
    ``background`` (kept without labels), ``warning``."""

    path: str
    reason: str
    action: str
    line: int | None = None

    def __str__(self) -> str:
        loc = f"{self.path}:{self.line}" if self.line else self.path
        return f"{loc}: {self.reason} ({self.action})"


@dataclass
class VerifyReport:
    """What a verification pass found; nothing is dropped without an :class:`Issue` here."""

    found: int = 0
    missing: int = 0
    empty: int = 0
    corrupt: int = 0
    instances: int = 0
    issues: list[Issue] = field(default_factory=list)

    @property
    def skipped(self) -> list[Issue]:
        return [i for i in self.issues if i.action == "skipped"]

    def counts_by_reason(self) -> Counter:
        return Counter(i.reason.split(":")[0] for i in self.issues)

    def summary(self) -> str:
        return (f"{self.found} images, {self.missing} missing labels, {self.empty} empty, "
                f"{self.corrupt} corrupt/skipped, {self.instances} instances, {len(self.issues)} issues")

    def to_dict(self) -> dict[str, Any]:
        return {"found": self.found, "missing": self.missing, "empty": self.empty,
                "corrupt": self.corrupt, "instances": self.instances,
                "issues": [vars(i) for i in self.issues]}


@dataclass
class DatasetIndex:
    """One verified split of a dataset: class names, one record per usable image, the report."""

    names: dict[int, str]
    records: list[dict]
    report: VerifyReport
    root: str = ""
    split: str = ""
    format: str = ""

    @property
    def nc(self) -> int:
        return len(self.names)

    def __len__(self) -> int:
        return len(self.records)
