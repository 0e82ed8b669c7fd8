"""The cheaper validation paths give exactly the results of the plain computations they replace.

Each shortcut in the per-epoch validation (skipping predictions that can match nothing, building
masks only for predictions that can match) is compared here with the straightforward version on
random inputs shaped like an early-training validation (hundreds of low-confidence predictions per
image, most of them overlapping no ground truth of their class).
"""
from __future__ import annotations

import numpy as np
import torch

from segctl_tasks_segment.ap import IOUV, match_predictions


def _plain_coco_match(pred_cls, true_cls, iou, iouv, conf):
    """COCO matching without any shortcut: every prediction visited in decreasing confidence."""
    iou = iou.numpy().astype(np.float32)
    m, n = iou.shape
    thr = iouv.numpy()
    correct = np.zeros((n, thr.size), bool)
    same = true_cls.numpy().reshape(-1, 1) == pred_cls.numpy().reshape(1, -1)
    iou = np.where(same, iou, -1.0)
    taken = np.zeros((thr.size, m), bool)
    for j in np.argsort(-conf.numpy(), kind="stable"):
        cand = np.where(taken | (iou[:, j][None, :] < thr[:, None]), -1.0, iou[:, j][None, :])
        best = cand.argmax(1)
        ok = cand[np.arange(thr.size), best] >= 0
        correct[j] = ok
        taken[np.arange(thr.size)[ok], best[ok]] = True
    return correct


def test_coco_matching_skip_is_exact():
    g = torch.Generator().manual_seed(0)
    checked = 0
    for trial in range(200):
        m, n = int(torch.randint(0, 8, (1,), generator=g)), int(torch.randint(0, 300, (1,), generator=g))
        iou = torch.rand((m, n), generator=g)
        iou[torch.rand((m, n), generator=g) < 0.8] = 0.0            # most predictions touch no GT
        if trial % 3 == 0:
            iou = (iou * 20).round() / 20                             # ties on IoU and at the thresholds
        conf = torch.rand(n, generator=g)
        if trial % 5 == 0:
            conf = (conf * 4).round() / 4                             # ties on confidence
        pc, tc = torch.randint(0, 3, (n,), generator=g), torch.randint(0, 3, (m,), generator=g)
        fast = match_predictions(pc, tc, iou, IOUV, conf=conf).numpy()
        plain = _plain_coco_match(pc, tc, iou, IOUV, conf) if m and n else np.zeros((n, 10), bool)
        assert np.array_equal(fast, plain), trial
        checked += int(plain.any())
    assert checked > 50  # the comparison covered many images with true positives
