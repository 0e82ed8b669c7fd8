"""YOLO11 configurations build from YAML with exactly the published parameter counts.

Segment counts: ``model_sizes.json`` of the reference fixtures (nc=80, sum of numel over
``model.parameters()``). Detect counts: the summary lines published in the reference's
``yolo11.yaml``. Both are reproduced here as published numbers, not as segctl output."""
from __future__ import annotations

import pytest
import torch

from segctl.nn import build_from_session

PUBLISHED = {
    "yolo11n-seg": 2_876_848, "yolo11s-seg": 10_113_248, "yolo11m-seg": 22_420_896,
    "yolo11l-seg": 27_678_368, "yolo11x-seg": 62_142_656,
    "yolo11n": 2_624_080, "yolo11s": 9_458_752, "yolo11m": 20_114_688,
    "yolo11l": 25_372_160, "yolo11x": 56_966_176,
}
LARGE = {"yolo11l-seg", "yolo11x-seg", "yolo11l", "yolo11x", "yolo11m-seg", "yolo11m"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in LARGE else n for n in PUBLISHED])
def test_exact_parameter_count(y11_session, name):
    model = build_from_session(f"{name}.yaml", y11_session)
    n = sum(p.numel() for p in model.parameters())
    print(f"{name}: {n:,} parameters (published {PUBLISHED[name]:,})")
    assert n == PUBLISHED[name]
    assert model.task == ("segment" if name.endswith("-seg") else "detect")
    assert model.stride.tolist() == [8.0, 16.0, 32.0]


def test_published_segment_counts_are_the_fixture_table(fixtures_dir):
    """The segment numbers above are those of the reference's ``model_sizes.json`` (copied fixture)."""
    import json

    table = {m["model"].removesuffix(".yaml"): m["params"]
             for m in json.loads((fixtures_dir / "model_sizes.json").read_text())["models"]}
    seg = {k: v for k, v in PUBLISHED.items() if k.endswith("-seg")}
    assert seg == {k: table[k] for k in seg}


def test_scale_switches_c3k2_inner_blocks(y11_session):
    """m/l/x nest C3k in every C3k2 (published scaling rule, read from ctx.scale); n/s only where
    the YAML says so."""
    from segctl_models_yolo11.layers import C3k

    kinds = {}
    for s in ("n", "m"):
        model = build_from_session(f"yolo11{s}.yaml", y11_session)
        kinds[s] = [isinstance(model.model[i].m[0], C3k) for i in (2, 4, 6, 8, 13, 16, 19, 22)]
    assert kinds["n"] == [False, False, True, True, False, False, False, True]
    assert kinds["m"] == [True] * 8


def test_forward_shapes_train_and_eval(y11_session):
    torch.manual_seed(0)
    model = build_from_session("yolo11n-seg.yaml", y11_session, nc=3)
    x = torch.rand(2, 3, 64, 96)
    model.train()
    feats, mc, proto = model(x)
    assert [f.shape[1] for f in feats] == [64 + 3] * 3 and mc.shape == (2, 32, 8 * 12 + 4 * 6 + 2 * 3)
    model.eval()
    with torch.no_grad():
        pred, proto = model(x)
    assert pred.shape == (2, 4 + 3 + 32, 126) and proto.shape == (2, 32, 16, 24)


def test_fuse_keeps_outputs(y11_session):
    torch.manual_seed(0)
    model = build_from_session("yolo11n-seg.yaml", y11_session, nc=3).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a = model(x)[0]
        model.fuse()
        b = model(x)[0]
    assert (a - b).abs().max() < 1e-3
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_info_names_the_scale(y11_session):
    model = build_from_session("yolo11s-seg.yaml", y11_session)
    info = model.info(imgsz=0, verbose=False)
    assert info["name"] == "yolo11s-seg" and info["params"] == PUBLISHED["yolo11s-seg"]
