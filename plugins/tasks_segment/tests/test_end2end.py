"""``end2end=True``: the post-processing asks the model's head whether it has one-to-one outputs."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from segctl.errors import UsageError
from segctl_tasks_segment.end2end import configure, topk_detections


class _Head(nn.Module):
    def __init__(self, capable):
        super().__init__()
        if capable:
            self.end2end_capable, self.end2end = True, False


class _Model(nn.Module):
    def __init__(self, capable):
        super().__init__()
        self.model = nn.ModuleList([nn.Identity(), _Head(capable)])

    @property
    def head(self):
        return self.model[-1]


class _Backend:
    def __init__(self, capable=False, metadata=None):
        self.model = _Model(capable)
        self.metadata = metadata or {}


def test_configure_switches_a_capable_head_both_ways():
    b = _Backend(capable=True)
    assert configure(b, True) is True and b.model.head.end2end is True
    assert configure(b, False) is False and b.model.head.end2end is False


def test_configure_refuses_a_head_without_one_to_one_outputs():
    b = _Backend(capable=False)
    assert configure(b, False) is False
    with pytest.raises(UsageError, match="no one-to-one"):
        configure(b, True)


def test_artifact_exported_end2end_is_end2end_whatever_is_asked():
    assert configure(_Backend(metadata={"end2end": True}), False) is True


def test_topk_keeps_overlapping_boxes_and_orders_by_score():
    """No NMS: two identical boxes both survive; top-k caps the count; conf filters."""
    nc, nm, n = 3, 2, 6
    pred = torch.zeros(1, 4 + nc + nm, n)
    pred[0, :4] = torch.tensor([50.0, 50.0, 20.0, 20.0])[:, None]  # every anchor: the same box
    scores = torch.tensor([0.9, 0.8, 0.1, 0.7, 0.05, 0.6])
    pred[0, 4 + 1] = scores  # class 1
    pred[0, 4 + nc] = torch.arange(n, dtype=torch.float)  # first mask coefficient = anchor index
    (d,) = topk_detections(pred, conf=0.5, max_det=3, nc=nc)
    assert d.shape == (3, 6 + nm)
    assert d[:, 4].tolist() == pytest.approx([0.9, 0.8, 0.7])
    assert d[:, 5].tolist() == [1.0, 1.0, 1.0] and d[:, 6].tolist() == [0.0, 1.0, 3.0]
    assert d[0, :4].tolist() == [40.0, 40.0, 60.0, 60.0]
    (d,) = topk_detections(pred, conf=0.65, max_det=300, nc=nc)
    assert len(d) == 3
