"""The YAML builder tells ``from_yaml`` which scale row was chosen (``LayerContext.scale``), and the
model summary names an unscaled family config with its scale (``yolo11-seg`` at s → ``yolo11s-seg``)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from segctl.nn.info import model_name  # noqa: E402
from segctl.nn.parser import build_model  # noqa: E402


class ScaleProbe(torch.nn.Module):
    """A layer whose structure depends on the scale name: 2 convs at scale 'b', 1 otherwise."""

    seen: list = []

    def __init__(self, c1, c2, n):
        super().__init__()
        self.m = torch.nn.Sequential(*(torch.nn.Conv2d(c1 if i == 0 else c2, c2, 1) for i in range(n)))

    @classmethod
    def from_yaml(cls, args, ch_in, ctx):
        cls.seen.append(ctx.scale)
        c2 = ctx.channels(args[0])
        return cls(ch_in[0], c2, 2 if ctx.scale == "b" else 1), c2

    def forward(self, x):
        return self.m(x)


CFG = {"nc": 1, "scales": {"a": [1.0, 1.0, 64], "b": [1.0, 1.0, 64]},
       "backbone": [[-1, 1, "ScaleProbe", [8]]], "head": []}


@pytest.mark.parametrize("scale,convs", [("a", 1), ("b", 2), (None, 1)])
def test_from_yaml_sees_the_scale(scale, convs):
    ScaleProbe.seen.clear()
    model = build_model(CFG, layers={"ScaleProbe": ScaleProbe}, scale=scale)
    assert ScaleProbe.seen == [scale or "a"]  # the first row when none is chosen
    assert len(model.model[0].m) == convs


def test_no_scales_means_scale_none():
    ScaleProbe.seen.clear()
    build_model({k: v for k, v in CFG.items() if k != "scales"}, layers={"ScaleProbe": ScaleProbe})
    assert ScaleProbe.seen == [None]


@pytest.mark.parametrize("yaml_file,scale,name", [
    ("cfg/yolov8-seg.yaml", "s", "yolov8s-seg"), ("yolo11-seg.yaml", "x", "yolo11x-seg"),
    ("yolo11.yaml", "m", "yolo11m"), ("yolo11n-seg.yaml", "n", "yolo11n-seg"), ("my.yaml", "n", "my"),
    ("my-model.yaml", "n", "my-model"),
])
def test_model_name_inserts_scale_after_family_stem(yaml_file, scale, name):
    class M:
        yaml = {"yaml_file": yaml_file, "scale": scale}

    assert model_name(M()) == name
