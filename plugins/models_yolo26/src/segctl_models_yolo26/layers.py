"""YOLO26 building blocks, written from the published architecture (YOLO26 docs and model YAML) and
from the structure of published YOLO26 checkpoints and ONNX exports (layer names, tensor shapes,
operator graph — file-format facts, no code).

What YOLO26 changes against YOLO11:

* **SPPF26**: SPPF with a configurable number of pooling steps, a linear (no activation) input
  projection and a residual connection around the block (YAML ``[c2, k, n, shortcut]``).
* **C3k2A**: YOLO11's C3k2 with a 4th YAML argument ``attn``: each inner block becomes a bottleneck
  followed by a PSABlock (used at the last neck stage, P5).
* **Segment26**: no DFL (``reg_max`` 1: the box branch gives the four side distances directly) and
  *two* sets of head branches: one-to-many (``cv2``/``cv3``/``cv4``, trained with task-aligned
  top-k assignment, decoded then NMS'd) and one-to-one (``one2one_cv2``/``one2one_cv3``/
  ``one2one_cv4``, trained with a single positive per object, read without NMS). Which one
  inference reads is the head's ``end2end`` attribute (see :class:`Segment26`).
* **Proto26**: the prototype module fuses P4 and P5 into P3 (1×1 refine, nearest upsample, sum,
  3×3 fuse) before YOLOv8's prototype stack, and carries a training-only semantic-segmentation
  branch (``semseg``, one logit map per class at stride 8) for the auxiliary loss.

Attribute names are part of the contract: they make parameter names identical to those of existing
YOLO26 checkpoints, so state dicts map one to one.
"""
from __future__ import annotations

import math

import copy

import torch
import torch.nn.functional as F
from torch import nn

from segctl_models_yolo11.layers import C3k2, PSABlock, Segment11
from segctl_models_yolov8.layers import Bottleneck, Conv, Detect

MAX_DET = 300
"""Final detections the one-to-one branch emits per image (published YOLO26 default)."""


class SPPF26(nn.Module):
    """Linear 1×1 to half width, ``n`` chained k×k max-pools, concat, 1×1; residual when widths agree."""

    channel_rule = "conv"

    def __init__(self, c1, c2, k=5, n=3, shortcut=False):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1, act=False)
        self.cv2 = Conv(c_ * (n + 1), c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)
        self.n = n
        self.add = bool(shortcut) and c1 == c2

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(self.n):
            y.append(self.m(y[-1]))
        out = self.cv2(torch.cat(y, 1))
        return out + x if self.add else out


class C3k2A(C3k2):
    """C3k2 whose inner blocks, with ``attn``, are ``Bottleneck → PSABlock`` pairs.

    YAML args: ``[c2, c3k=False, e=0.5, attn=False, g=1, shortcut=True]``; scale rule as C3k2."""

    def __init__(self, c1, c2, n=1, c3k=False, e=0.5, attn=False, g=1, shortcut=True):
        super().__init__(c1, c2, n, c3k, e, g, shortcut)
        if attn:
            self.m = nn.ModuleList(
                nn.Sequential(Bottleneck(self.c, self.c, shortcut, g),
                              PSABlock(self.c, attn_ratio=0.5, num_heads=max(self.c // 64, 1)))
                for _ in range(n)
            )


class Proto26(nn.Module):
    """Multi-scale prototypes: P3 + upsampled 1×1-refined P4, P5 → 3×3 fuse → YOLOv8's prototype
    stack (``[B, nm, H/4, W/4]``); in training also the semantic logits ``[B, nc, H/8, W/8]``."""

    def __init__(self, ch, c_=256, c2=32, nc=80):
        super().__init__()
        c0 = ch[0]
        self.feat_refine = nn.ModuleList(Conv(c, c0, 1) for c in ch[1:])
        self.feat_fuse = Conv(c0, c0, 3)
        self.cv1 = Conv(c0, c_, 3)
        self.upsample = nn.ConvTranspose2d(c_, c_, 2, 2, 0, bias=True)
        self.cv2 = Conv(c_, c_, 3)
        self.cv3 = Conv(c_, c2)
        self.semseg = nn.Sequential(Conv(c0, c_, 3), Conv(c_, c_, 3), nn.Conv2d(c_, nc, 1))

    def fused(self, xs):
        f = xs[0]
        for i, refine in enumerate(self.feat_refine):
            f = f + F.interpolate(refine(xs[i + 1]), scale_factor=2 ** (i + 1), mode="nearest")
        return self.feat_fuse(f)

    def protos(self, f):
        return self.cv3(self.cv2(self.upsample(self.cv1(f))))

    def forward(self, xs):
        """Prototypes only; the head asks for the semantic logits itself (``semseg(fused(xs))``)
        when it is in training mode, so switching the head alone is enough (validation loss)."""
        return self.protos(self.fused(xs))


class Segment26(Segment11):
    """YOLO26 segmentation head: DFL-free boxes, one-to-many and one-to-one branches, Proto26.

    eval mode → ``(pred [B, 4+nc+nm, N], proto)`` like YOLOv8's Segment, from the branch chosen by
    ``end2end``: ``False`` (default, as the reference's default) the one-to-many outputs, meant for
    NMS; ``True`` the one-to-one outputs, which are final detections after a confidence threshold
    and a top-k (the segment task's ``end2end=True``) — no NMS. train mode → ``{"one2many": (feats, mc, proto),
    "one2one": (feats, mc, proto), "semseg": logits}``; the one-to-one branch sees detached
    features (it is trained without disturbing the shared neck, as published for dual assignment).
    """

    reg_max = 1
    end2end_capable = True

    def __init__(self, nc=80, nm=32, npr=256, ch=()):
        super().__init__(nc, nm, npr, ch)
        self.proto = Proto26(ch, self.npr, self.nm, self.nc)
        self.one2one_cv2 = copy.deepcopy(self.cv2)
        self.one2one_cv3 = copy.deepcopy(self.cv3)
        self.one2one_cv4 = copy.deepcopy(self.cv4)
        self.end2end = False
        self.max_det = MAX_DET

    def bias_init(self):
        super().bias_init()
        for a, b, s in zip(self.one2one_cv2, self.one2one_cv3, self.stride):
            a[-1].bias.data[:] = 1.0
            b[-1].bias.data[: self.nc] = math.log(5 / self.nc / (640 / float(s)) ** 2)  # no tensor: builds on meta too

    def _branch(self, x, box, cls, mask):
        b = x[0].shape[0]
        feats = [torch.cat((box[i](x[i]), cls[i](x[i])), 1) for i in range(self.nl)]
        mc = torch.cat([mask[i](x[i]).view(b, self.nm, -1) for i in range(self.nl)], 2)
        return feats, mc

    def forward(self, x):
        if self.training:
            f = self.proto.fused(x)
            p, sem = self.proto.protos(f), self.proto.semseg(f)
            f1, m1 = self._branch(x, self.cv2, self.cv3, self.cv4)
            xd = [xi.detach() for xi in x]
            f2, m2 = self._branch(xd, self.one2one_cv2, self.one2one_cv3, self.one2one_cv4)
            return {"one2many": (f1, m1, p), "one2one": (f2, m2, p), "semseg": sem}
        p = self.proto(x)
        if self.end2end:
            feats, mc = self._branch(x, self.one2one_cv2, self.one2one_cv3, self.one2one_cv4)
        else:
            feats, mc = self._branch(x, self.cv2, self.cv3, self.cv4)
        return torch.cat([Detect._decode(self, feats), mc], 1), p

    def fuse_branches(self):
        """Drop what inference never reads: the other head branch and the semantic branch."""
        if self.end2end:
            self.cv2, self.cv3, self.cv4 = self.one2one_cv2, self.one2one_cv3, self.one2one_cv4
        del self.one2one_cv2, self.one2one_cv3, self.one2one_cv4
        self.proto.semseg = None
        return self

