"""The data pipeline every dataset format shares: augmentation, mask targets, Dataset, DataLoader, plots.

Public API: :class:`~.dataset.SegmentDataset`, :func:`~.dataset.collate`,
:func:`~.dataset.build_dataloader`, :func:`~.augment.letterbox`, :func:`~.plots.plot_labels`,
:func:`~.plots.plot_batch`. Imports torch/OpenCV: import this subpackage only when data is needed.
"""
from .augment import DEFAULT_HYP, letterbox
from .dataset import SegmentDataset, build_dataloader, collate

__all__ = ["DEFAULT_HYP", "SegmentDataset", "build_dataloader", "collate", "letterbox"]
