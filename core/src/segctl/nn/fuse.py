"""Conv + BatchNorm folding for inference.

In eval mode BatchNorm is an affine map per channel, so it can be folded into the preceding conv's
weights and bias: one op instead of two, same outputs (to float rounding). A layer opts in by naming
its members ``conv`` (``nn.Conv2d``) and ``bn`` (``nn.BatchNorm2d``) and applying them in that order;
layers with other fusion needs may define their own ``fuse()`` method, which is called instead.
"""
from __future__ import annotations

import torch
from torch import nn


def fuse_conv_and_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """Return a new conv (with bias) equal to ``bn(conv(x))`` in eval mode."""
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        kernel_size=conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=True,
    ).to(device=conv.weight.device, dtype=conv.weight.dtype)
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        fused.bias.copy_((b - bn.running_mean) * scale + bn.bias)
    fused.weight.requires_grad_(False)
    fused.bias.requires_grad_(False)
    return fused


def fuse_model(model: nn.Module) -> nn.Module:
    """Fuse in place every (conv, bn) pair and call custom ``fuse()`` methods; returns ``model``."""
    for m in list(model.modules()):
        if m is model:
            continue
        if callable(getattr(type(m), "fuse", None)):
            m.fuse()
        elif isinstance(getattr(m, "conv", None), nn.Conv2d) and isinstance(getattr(m, "bn", None), nn.BatchNorm2d):
            m.conv = fuse_conv_and_bn(m.conv, m.bn)
            m.bn = nn.Identity()
    for m in model.modules():
        if hasattr(m, "np") and hasattr(m, "i"):
            m.np = sum(p.numel() for p in m.parameters())
    model.fused = True
    return model
