"""YOLOv8 building blocks, written from the published architecture description.

Attribute names (``conv``, ``bn``, ``cv1``, ``m``, ``dfl``, ``proto`` ...) are part of the contract:
they make parameter names identical to those in existing YOLOv8 checkpoints (``model.0.conv.weight``),
so state dicts map one to one. Each class states its ``channel_rule`` (or ``from_yaml``) so the generic
parser in :mod:`segctl.nn.parser` knows how YAML ``args`` become constructor arguments.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def autopad(k: int, p: int | None = None, d: int = 1) -> int:
    """'Same' padding for odd kernels, so stride-1 convs keep the spatial size."""
    if p is not None:
        return p
    k = d * (k - 1) + 1 if d > 1 else k
    return k // 2


class Conv(nn.Module):
    """Conv2d (no bias) → BatchNorm2d → SiLU. BN eps/momentum match the published training recipe."""

    channel_rule = "conv"

    def __init__(self, c1, c2, k=1, s=1, p=None, g=1, d=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=0.001, momentum=0.03)
        self.act = nn.SiLU() if act is True else (act if isinstance(act, nn.Module) else nn.Identity())

    def forward(self, x):
        # After GraphModel.fuse() ``bn`` is an Identity and ``conv`` carries the folded bias.
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two convs with an optional residual (only when input and output widths agree)."""

    channel_rule = "conv"

    def __init__(self, c1, c2, shortcut=True, g=1, k=(3, 3), e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, k[0], 1)
        self.cv2 = Conv(c_, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP block with two halves; every bottleneck output is kept and concatenated (richer gradients)."""

    channel_rule = "repeat"

    def __init__(self, c1, c2, n=1, shortcut=False, g=1, e=0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, k=(3, 3), e=1.0) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained max-pools equal pools of size k, 2k-1, 3k-2."""

    channel_rule = "conv"

    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class Concat(nn.Module):
    """Concatenate a list of feature maps along ``dimension`` (channels by default)."""

    channel_rule = "concat"

    def __init__(self, dimension=1):
        super().__init__()
        self.d = dimension

    def forward(self, x):
        return torch.cat(x, self.d)


Upsample = nn.Upsample
"""Plain ``nn.Upsample`` (no parameters; output channels = input channels)."""


class DFL(nn.Module):
    """Distribution Focal Loss integral: expected value of a softmax over ``c1`` bins per box side.

    The 1×1 conv holds the fixed weights 0..c1-1; it is a (frozen) parameter so checkpoints that
    store it load strictly."""

    def __init__(self, c1=16):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1)
        self.c1 = c1

    def forward(self, x):
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


def make_anchors(feats, strides, offset=0.5):
    """Anchor centres (grid cell centres, in feature-map units) and the stride of each anchor."""
    points, stride_col = [], []
    dtype, device = feats[0].dtype, feats[0].device
    for f, s in zip(feats, strides):
        h, w = f.shape[2:]
        sx = torch.arange(w, device=device, dtype=dtype) + offset
        sy = torch.arange(h, device=device, dtype=dtype) + offset
        yy, xx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((xx, yy), -1).view(-1, 2))
        stride_col.append(torch.full((h * w, 1), float(s), dtype=dtype, device=device))
    return torch.cat(points), torch.cat(stride_col)


def dist2bbox(distance, anchors, dim=1):
    """(left, top, right, bottom) distances from anchors → (cx, cy, w, h)."""
    lt, rb = distance.chunk(2, dim)
    x1y1 = anchors - lt
    x2y2 = anchors + rb
    return torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), dim)


class Detect(nn.Module):
    """Anchor-free decoupled head: a box branch (4×reg_max DFL bins) and a class branch per level.

    train mode → list of ``[B, 4*reg_max+nc, H_i, W_i]``; eval mode → ``[B, 4+nc, N]`` with boxes
    as cx, cy, w, h in input pixels and sigmoid class scores (the ONNX ``output0`` layout)."""

    task = "detect"
    reg_max = 16

    def __init__(self, nc=80, ch=()):
        super().__init__()
        self.nc = nc
        self.nl = len(ch)
        self.no = nc + self.reg_max * 4
        self.stride = torch.zeros(self.nl, device="cpu")  # plain attribute, not a buffer: never in state dicts
        c2 = max(16, ch[0] // 4, self.reg_max * 4)
        c3 = max(ch[0], min(self.nc, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * self.reg_max, 1)) for x in ch
        )
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, self.nc, 1)) for x in ch)
        self.dfl = DFL(self.reg_max) if self.reg_max > 1 else nn.Identity()
        self._anchor_key = None

    @classmethod
    def from_yaml(cls, args, ch_in, ctx):
        """``[nc, ...]`` + the input channels of every source layer appended (as ``ch``)."""
        return cls(*args, ch=list(ch_in)), None

    def bias_init(self):
        """Start box logits at 1 and class logits at a prior of ~5 objects per 640² image, per level,
        so early training is stable (needs ``stride``, set by the model builder)."""
        for a, b, s in zip(self.cv2, self.cv3, self.stride):
            a[-1].bias.data[:] = 1.0
            b[-1].bias.data[: self.nc] = math.log(5 / self.nc / (640 / float(s)) ** 2)

    def _decode(self, x):
        # Anchors depend on the feature shapes, device, dtype and strides: rebuild when any changes.
        key = (tuple(xi.shape for xi in x), x[0].device, x[0].dtype, tuple(float(s) for s in self.stride))
        if self._anchor_key != key:
            self.anchors, self.strides = (t.transpose(0, 1) for t in make_anchors(x, self.stride, 0.5))
            self._anchor_key = key
        b = x[0].shape[0]
        x_cat = torch.cat([xi.view(b, self.no, -1) for xi in x], 2)
        box, cls = x_cat.split((self.reg_max * 4, self.nc), 1)
        dbox = dist2bbox(self.dfl(box), self.anchors.unsqueeze(0), dim=1) * self.strides
        return torch.cat((dbox, cls.sigmoid()), 1)

    def forward(self, x):
        x = [torch.cat((self.cv2[i](x[i]), self.cv3[i](x[i])), 1) for i in range(self.nl)]
        if self.training:
            return x
        return self._decode(x)


class Proto(nn.Module):
    """Mask prototypes: conv, 2× transposed-conv upsample, conv, conv → ``[B, nm, H/4, W/4]``."""

    def __init__(self, c1, c_=256, c2=32):
        super().__init__()
        self.cv1 = Conv(c1, c_, k=3)
        self.upsample = nn.ConvTranspose2d(c_, c_, 2, 2, 0, bias=True)
        self.cv2 = Conv(c_, c_, k=3)
        self.cv3 = Conv(c_, c2)

    def forward(self, x):
        return self.cv3(self.cv2(self.upsample(self.cv1(x))))


class Segment(Detect):
    """Detect + per-anchor mask coefficients (``cv4``) + prototypes from the P3 level.

    train mode → ``(feats, mc [B, nm, N], proto)``; eval mode → ``(pred [B, 4+nc+nm, N], proto)``."""

    task = "segment"

    def __init__(self, nc=80, nm=32, npr=256, ch=()):
        super().__init__(nc, ch)
        self.nm = nm
        self.npr = npr
        self.proto = Proto(ch[0], self.npr, self.nm)
        c4 = max(ch[0] // 4, self.nm)
        self.cv4 = nn.ModuleList(nn.Sequential(Conv(x, c4, 3), Conv(c4, c4, 3), nn.Conv2d(c4, self.nm, 1)) for x in ch)

    @classmethod
    def from_yaml(cls, args, ch_in, ctx):
        """``[nc, nm, npr]``: the prototype width ``npr`` is scaled like any channel count."""
        args = list(args)
        if len(args) > 2:
            args[2] = ctx.channels(args[2])
        return cls(*args, ch=list(ch_in)), None

    def forward(self, x):
        p = self.proto(x[0])
        b = p.shape[0]
        mc = torch.cat([self.cv4[i](x[i]).view(b, self.nm, -1) for i in range(self.nl)], 2)
        out = Detect.forward(self, x)
        if self.training:
            return out, mc, p
        return torch.cat([out, mc], 1), p
