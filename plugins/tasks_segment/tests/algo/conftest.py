"""Shared helpers for the algorithm tests: a tiny model that follows docs/contracts.md outputs."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn


class _Head(nn.Module):
    def __init__(self, nc, nm, reg_max=16, stride=(8.0, 16.0, 32.0)):
        super().__init__()
        self.nc, self.nm, self.reg_max = nc, nm, reg_max
        self.no = nc + 4 * reg_max
        self.register_buffer("stride", torch.tensor(stride))


class TinySegModel(nn.Module):
    """Three strided levels (8/16/32), a box+class conv and a coefficient conv per level, and a
    prototype branch at stride 4: enough to exercise the loss exactly as a real model would."""

    def __init__(self, nc=2, nm=8, ch=16, segment=True, cls_prior=-4.0):
        super().__init__()
        self.segment = segment
        self.head = _Head(nc, nm)
        self.stride = self.head.stride
        self.stem = nn.Sequential(nn.Conv2d(3, ch, 3, 2, 1), nn.SiLU(), nn.Conv2d(ch, ch, 3, 2, 1), nn.SiLU())
        self.down = nn.ModuleList([nn.Sequential(nn.Conv2d(ch, ch, 3, 2, 1), nn.SiLU()) for _ in range(3)])
        self.det = nn.ModuleList([nn.Conv2d(ch, self.head.no, 1) for _ in range(3)])
        self.coef = nn.ModuleList([nn.Conv2d(ch, nm, 1) for _ in range(3)])
        self.proto = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1), nn.SiLU(), nn.Conv2d(ch, nm, 1))
        for d in self.det:  # class bias prior like real heads, so early scores are small
            nn.init.constant_(d.bias[4 * 16:], cls_prior)

    def forward(self, x):
        p4 = self.stem(x)
        feats, y = [], p4
        for d in self.down:
            y = d(y)
            feats.append(y)
        outs = [h(f) for h, f in zip(self.det, feats)]
        if not self.segment:
            return outs
        B = x.shape[0]
        mc = torch.cat([c(f).view(B, self.head.nm, -1) for c, f in zip(self.coef, feats)], 2)
        return outs, mc, self.proto(p4)


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    return TinySegModel()


def make_batch(B=2, size=64, overlap=True):
    """Images with filled rectangles, contract-layout targets and masks at size/4."""
    g = torch.Generator().manual_seed(1)
    img = torch.zeros(B, 3, size, size, dtype=torch.uint8)
    cls, boxes, bidx, inst_masks = [], [], [], []
    r = size // 4
    omasks = torch.zeros(B, r, r)
    for b in range(B):
        for k in range(2):
            x1, y1 = torch.randint(0, size // 2, (2,), generator=g).tolist()
            w, h = torch.randint(size // 5, size // 2, (2,), generator=g).tolist()
            x2, y2 = min(x1 + w, size), min(y1 + h, size)
            c = k % 2
            img[b, c, y1:y2, x1:x2] = 255
            cls.append(c)
            boxes.append([(x1 + x2) / 2 / size, (y1 + y2) / 2 / size, (x2 - x1) / size, (y2 - y1) / size])
            bidx.append(b)
            m = torch.zeros(r, r)
            m[y1 // 4:(y2 + 3) // 4, x1 // 4:(x2 + 3) // 4] = 1
            inst_masks.append(m)
            omasks[b][m.bool()] = k + 1
    batch = dict(img=img, cls=torch.tensor(cls, dtype=torch.float32)[:, None],
                 bboxes=torch.tensor(boxes), batch_idx=torch.tensor(bidx, dtype=torch.float32))
    batch["masks"] = omasks if overlap else torch.stack(inst_masks)
    return batch


@pytest.fixture
def tiny():
    """Factories: ``tiny.model(**kw)`` and ``tiny.batch(**kw)`` (fixtures, because test modules
    cannot import conftest under every import mode)."""
    class _T:
        model = TinySegModel
        batch = staticmethod(make_batch)
    return _T
