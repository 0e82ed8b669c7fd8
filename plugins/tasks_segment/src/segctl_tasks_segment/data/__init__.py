"""The data pipeline every dataset format shares: augmentation, mask targets, Dataset, DataLoader, plots.

Public API: :class:`~.dataset.SegmentDataset`, :func:`~.dataset.collate`,
:func:`~.dataset.build_dataloader`, :func:`~.augment.letterbox`, :func:`~.augment.letterbox_image`,
:func:`~.plots.plot_labels`, :func:`~.plots.plot_batch`. The names load lazily: ``.augment`` needs only
OpenCV and NumPy (a runner's decode tasks letterbox without importing torch); ``.dataset`` imports torch.
"""
from __future__ import annotations

import importlib

_LAZY = {"DEFAULT_HYP": ".augment", "letterbox": ".augment", "letterbox_image": ".augment",
         "SegmentDataset": ".dataset", "build_dataloader": ".dataset", "collate": ".dataset"}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(mod, __name__), name)
