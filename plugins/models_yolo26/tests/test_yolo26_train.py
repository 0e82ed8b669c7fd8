"""The dual-assignment loss runs on YOLO26's training output and trains every branch."""
from __future__ import annotations

import torch

from segctl.nn import build_from_session


def _batch():
    masks = torch.zeros(2, 16, 16)
    masks[0, 2:8, 2:8] = 1
    masks[0, 9:14, 8:15] = 2
    masks[1, 4:12, 4:12] = 1
    return {"batch_idx": torch.tensor([0.0, 0.0, 1.0]), "cls": torch.tensor([[0.0], [2.0], [1.0]]),
            "bboxes": torch.tensor([[0.3125, 0.3125, 0.375, 0.375], [0.71875, 0.71875, 0.4375, 0.3125],
                                    [0.5, 0.5, 0.5, 0.5]]),
            "masks": masks}


def test_dual_assignment_loss_trains_both_branches_and_semseg(y26_session):
    from segctl_tasks_segment.loss import DualAssignmentSegmentationLoss

    torch.manual_seed(0)
    model = build_from_session("yolo26n-seg.yaml", y26_session, nc=3).train()
    crit = DualAssignmentSegmentationLoss(model, hyp={"box": 7.5, "cls": 0.5, "dfl": 1.5}, overlap=True)
    x = torch.rand(2, 3, 64, 64)
    b = _batch()
    loss, items = crit(model(x), b)
    assert items.shape == (4,) and items[3] == 0  # no DFL item: boxes are regressed directly
    loss.backward()
    head = model.head
    for name in ("cv2", "one2one_cv2", "one2one_cv3", "one2one_cv4", "cv4"):
        assert getattr(head, name)[0][-1].weight.grad.abs().sum() > 0, name
    assert head.proto.semseg[-1].weight.grad.abs().sum() > 0
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = float(loss)
    for _ in range(5):
        opt.zero_grad()
        loss, _ = crit(model(x), b)
        loss.backward()
        opt.step()
    assert float(loss) < first
