"""YOLO11 building blocks, written from the published architecture description (YOLO11 docs and
model YAML; the position-sensitive attention of YOLOv10, arXiv:2405.14458).

What YOLO11 changes against YOLOv8:

* **C3k2** replaces C2f: the same split/concat CSP block, but its inner blocks are either plain
  bottlenecks (hidden width halved) or, for the larger scales, nested **C3k** blocks (a C3 with two
  3×3 bottlenecks). Which one is used depends on the YAML argument *and* on the scale: at scales
  m, l and x every C3k2 uses C3k (hence ``from_yaml`` reads ``ctx.scale``).
* **C2PSA** after SPPF: half of the channels go through ``n`` **PSABlock** s (multi-head
  **Attention** with a depthwise positional conv, then a 2× feed-forward, both residual).
* The head (**Detect11** / **Segment11**) keeps YOLOv8's box, mask and prototype branches but its
  classification branch is two depthwise-separable units (depthwise 3×3 + pointwise 1×1) instead
  of two full 3×3 convs.

Attribute names (``cv1``, ``m``, ``attn.qkv``, ``ffn``, ``cv3.i.0.0``) are part of the contract:
they make parameter names identical to those in existing YOLO11 checkpoints.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from segctl_models_yolov8.layers import Bottleneck, C2f, Conv, Detect, Segment

# Scales whose C3k2 blocks always nest C3k blocks (published YOLO11 scaling rule).
C3K_SCALES = frozenset("mlx")


class DWConv(Conv):
    """Depthwise conv (groups = gcd of the widths) → BatchNorm → SiLU."""

    channel_rule = "conv"

    def __init__(self, c1, c2, k=1, s=1, d=1, act=True):
        super().__init__(c1, c2, k, s, g=math.gcd(c1, c2), d=d, act=act)


class C3k(nn.Module):
    """C3 block with ``n`` bottlenecks of kernel ``k`` (full hidden width) on one half, a 1×1 on the
    other, concatenated and fused by a 1×1."""

    channel_rule = "repeat"

    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5, k=3):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, k=(k, k), e=1.0) for _ in range(n)))

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C3k2(C2f):
    """C2f whose inner blocks are bottlenecks (hidden width halved) or, with ``c3k``, C3k blocks.

    YAML args: ``[c2, c3k=False, e=0.5, g=1, shortcut=True]``; the repeat count becomes ``n``."""

    def __init__(self, c1, c2, n=1, c3k=False, e=0.5, g=1, shortcut=True):
        nn.Module.__init__(self)
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(
            C3k(self.c, self.c, 2, shortcut, g) if c3k else Bottleneck(self.c, self.c, shortcut, g) for _ in range(n)
        )

    @classmethod
    def from_yaml(cls, args, ch_in, ctx):
        """As the ``"repeat"`` rule, except that scales m/l/x force ``c3k=True``."""
        c2 = ctx.channels(args[0])
        rest = list(args[1:])
        if ctx.scale in C3K_SCALES:
            rest = [True, *rest[1:]]
        return cls(ch_in[0], c2, ctx.repeats, *rest), c2


class Attention(nn.Module):
    """Multi-head self-attention over all pixels, with 1×1-conv projections and a depthwise 3×3
    positional encoding of the values. Keys/queries use ``attn_ratio`` of the per-head width.

    ``qkv`` packs, per head, ``[q (key_dim), k (key_dim), v (head_dim)]`` channels."""

    def __init__(self, dim, num_heads=8, attn_ratio=0.5):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim**-0.5
        self.qkv = Conv(dim, dim + 2 * self.key_dim * num_heads, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 3, 1, g=dim, act=False)

    @classmethod
    def from_yaml(cls, args, ch_in, ctx):
        """``[num_heads=8, attn_ratio=0.5]`` on the input's channels (shape-preserving)."""
        return cls(ch_in[0], *args), ch_in[0]

    def forward(self, x):
        b, c, h, w = x.shape
        n = h * w
        q, k, v = self.qkv(x).view(b, self.num_heads, 2 * self.key_dim + self.head_dim, n).split(
            [self.key_dim, self.key_dim, self.head_dim], dim=2)
        attn = ((q.transpose(-2, -1) @ k) * self.scale).softmax(dim=-1)
        y = (v @ attn.transpose(-2, -1)).view(b, c, h, w) + self.pe(v.reshape(b, c, h, w))
        return self.proj(y)


class PSABlock(nn.Module):
    """Attention then a 2× feed-forward (two 1×1 convs), each with a residual connection."""

    def __init__(self, c, attn_ratio=0.5, num_heads=4, shortcut=True):
        super().__init__()
        self.attn = Attention(c, attn_ratio=attn_ratio, num_heads=num_heads)
        self.ffn = nn.Sequential(Conv(c, c * 2, 1), Conv(c * 2, c, 1, act=False))
        self.add = shortcut

    @classmethod
    def from_yaml(cls, args, ch_in, ctx):
        """``[attn_ratio=0.5, num_heads=4, shortcut=True]`` on the input's channels; repeats stack."""
        blocks = [cls(ch_in[0], *args) for _ in range(ctx.repeats)]
        return (nn.Sequential(*blocks) if len(blocks) > 1 else blocks[0]), ch_in[0]

    def forward(self, x):
        x = x + self.attn(x) if self.add else self.attn(x)
        return x + self.ffn(x) if self.add else self.ffn(x)


class C2PSA(nn.Module):
    """Split into two halves; ``n`` PSABlocks (one head per 64 channels) on one; concat and fuse.

    Input and output widths must agree (it sits between SPPF and the neck)."""

    channel_rule = "repeat"

    def __init__(self, c1, c2, n=1, e=0.5):
        super().__init__()
        if c1 != c2:
            raise ValueError(f"C2PSA needs equal input and output channels, got {c1} and {c2}")
        self.c = int(c1 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv(2 * self.c, c1, 1)
        self.m = nn.Sequential(*(PSABlock(self.c, attn_ratio=0.5, num_heads=max(self.c // 64, 1)) for _ in range(n)))

    def forward(self, x):
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        return self.cv2(torch.cat((a, self.m(b)), 1))


def dw_class_branch(ch, c3: int, nc: int) -> nn.ModuleList:
    """Per level: (depthwise 3×3 + pointwise 1×1) twice, then a 1×1 to ``nc`` class logits."""
    return nn.ModuleList(
        nn.Sequential(
            nn.Sequential(DWConv(x, x, 3), Conv(x, c3, 1)),
            nn.Sequential(DWConv(c3, c3, 3), Conv(c3, c3, 1)),
            nn.Conv2d(c3, nc, 1),
        )
        for x in ch
    )


class Detect11(Detect):
    """YOLOv8's detection head with YOLO11's depthwise-separable classification branch."""

    def __init__(self, nc=80, ch=()):
        super().__init__(nc, ch)
        self.cv3 = dw_class_branch(ch, max(ch[0], min(self.nc, 100)), self.nc)


class Segment11(Segment):
    """YOLOv8's segmentation head (32 prototypes, DFL boxes) with YOLO11's class branch."""

    def __init__(self, nc=80, nm=32, npr=256, ch=()):
        super().__init__(nc, nm, npr, ch)
        self.cv3 = dw_class_branch(ch, max(ch[0], min(self.nc, 100)), self.nc)
