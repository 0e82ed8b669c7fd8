"""Helpers for testing exporters and backends (segctl's own plugins and third-party ones).

Why a stand-in model: an exporter's tests should not depend on an architecture plugin. The tiny
model here honours the eval-mode segment contract of docs/contracts.md — ``(pred [B, 4+nc+32, N],
proto [B, 32, H/4, W/4])``, boxes as cx, cy, w, h in input pixels, class scores after sigmoid —
with anchors computed from the feature shapes on every call (so dynamic shapes trace correctly),
in about 20 k parameters.
"""
from __future__ import annotations

from typing import Any


def tiny_model(nc: int = 3, nm: int = 32, seed: int = 0, names: dict | None = None) -> Any:
    """A seeded stand-in segment model (eval mode) with ``names``, ``nc``, ``task``, ``stride``."""
    import torch
    from torch import nn

    def block(c1, c2, s):
        return nn.Sequential(nn.Conv2d(c1, c2, 3, s, 1), nn.SiLU())

    class TinySegment(nn.Module):
        task = "segment"

        def __init__(self):
            super().__init__()
            self.nc, self.nm = nc, nm
            self.names = names or {i: f"class{i}" for i in range(nc)}
            self.stride = torch.tensor([8.0, 16.0, 32.0])
            self.p2 = nn.Sequential(block(3, 8, 2), block(8, 16, 2))
            self.p3, self.p4, self.p5 = block(16, 16, 2), block(16, 24, 2), block(24, 32, 2)
            # separate box / class / coefficient convolutions per scale, as in YOLOv8's head (no
            # channel slicing: TFLite's int8 quantiser leaves a sliced tanh branch in float)
            self.xy_heads = nn.ModuleList(nn.Conv2d(c, 2, 1) for c in (16, 24, 32))
            self.wh_heads = nn.ModuleList(nn.Conv2d(c, 2, 1) for c in (16, 24, 32))
            self.cls_heads = nn.ModuleList(nn.Conv2d(c, nc, 1) for c in (16, 24, 32))
            self.coef_heads = nn.ModuleList(nn.Conv2d(c, nm, 1) for c in (16, 24, 32))
            self.proto = nn.Sequential(block(16, 16, 1), nn.Conv2d(16, nm, 1))

        def forward(self, x):
            f2 = self.p2(x)
            f3 = self.p3(f2)
            f4 = self.p4(f3)
            f5 = self.p5(f4)
            boxes, scores, coefs = [], [], []
            for i, (f, s) in enumerate(zip((f3, f4, f5), (8.0, 16.0, 32.0))):
                b, _, h, w = f.shape
                gy, gx = torch.meshgrid(torch.arange(h, dtype=x.dtype, device=x.device) + 0.5,
                                        torch.arange(w, dtype=x.dtype, device=x.device) + 0.5, indexing="ij")
                grid = torch.stack((gx, gy)).view(1, 2, h * w)
                xy = (grid + self.xy_heads[i](f).view(b, 2, h * w).tanh()) * s
                wh = self.wh_heads[i](f).view(b, 2, h * w).clamp(-4, 4).exp() * s * 2
                boxes.append(torch.cat((xy, wh), 1))
                scores.append(self.cls_heads[i](f).view(b, nc, h * w))
                coefs.append(self.coef_heads[i](f).view(b, nm, h * w))
            # like YOLOv8's head: each kind joined over the scales (class logits through one sigmoid),
            # then boxes|scores|coefficients joined on the channel axis as the last op (exporters rely
            # on that split)
            cat = lambda t: torch.cat(t, 2)  # noqa: E731
            return torch.cat((cat(boxes), cat(scores).sigmoid(), cat(coefs)), 1), self.proto(f2)

    torch.manual_seed(seed)
    return TinySegment().train(False)


class FakeRegistry:
    """A registry over given specs (for tests that do not want entry-point discovery)."""

    def __init__(self, specs):
        self.specs = list(specs)

    def all(self, kind):
        from ..specs import SPEC_KINDS

        return [s for s in self.specs if isinstance(s, SPEC_KINDS[kind])]

    def get(self, kind, name):
        for s in self.all(kind):
            if name in (s.name, *getattr(s, "aliases", ())):
                return s
        from ..errors import UsageError

        raise UsageError(f"unknown {kind} {name!r}")


class FakeSession:
    """Just enough of :class:`segctl.session.Session` for export: a registry and ``emit`` (recorded)."""

    def __init__(self, specs):
        self.registry = FakeRegistry(specs)
        self.events: list[tuple[str, dict]] = []

    def emit(self, hook, **kwargs):
        self.events.append((hook, kwargs))
