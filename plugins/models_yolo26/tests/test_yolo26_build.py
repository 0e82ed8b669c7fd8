"""YOLO26-seg configurations build from YAML with exactly the reference's parameter counts.

Counts: ``model_sizes.json`` of the reference fixtures (nc=80, sum of numel over
``model.parameters()``, both head branches and the training-only semantic branch included)."""
from __future__ import annotations

import json

import pytest
import torch

from segctl.nn import build_from_session

PUBLISHED = {"yolo26n-seg": 3_126_280, "yolo26s-seg": 11_505_800, "yolo26m-seg": 27_112_072,
             "yolo26l-seg": 31_515_528, "yolo26x-seg": 70_693_800}
LARGE = {"yolo26m-seg", "yolo26l-seg", "yolo26x-seg"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in LARGE else n for n in PUBLISHED])
def test_exact_parameter_count(y26_session, name):
    model = build_from_session(f"{name}.yaml", y26_session)
    n = sum(p.numel() for p in model.parameters())
    print(f"{name}: {n:,} parameters (published {PUBLISHED[name]:,})")
    assert n == PUBLISHED[name]
    assert model.task == "segment"
    assert model.stride.tolist() == [8.0, 16.0, 32.0]


def test_published_counts_are_the_fixture_table(fixtures_dir):
    table = {m["model"].removesuffix(".yaml"): m["params"]
             for m in json.loads((fixtures_dir / "model_sizes.json").read_text())["models"]}
    assert PUBLISHED == {k: table[k] for k in PUBLISHED}


def test_forward_train_and_both_eval_branches(y26_session):
    torch.manual_seed(0)
    model = build_from_session("yolo26n-seg.yaml", y26_session, nc=3)
    x = torch.rand(2, 3, 64, 96)
    model.train()
    out = model(x)
    assert set(out) == {"one2many", "one2one", "semseg"}
    feats, mc, proto = out["one2one"]
    assert [tuple(f.shape) for f in feats] == [(2, 7, 8, 12), (2, 7, 4, 6), (2, 7, 2, 3)]  # 4 sides + 3 classes
    assert tuple(mc.shape) == (2, 32, 96 + 24 + 6) and tuple(proto.shape) == (2, 32, 16, 24)
    assert tuple(out["semseg"].shape) == (2, 3, 8, 12)
    model.eval()
    with torch.no_grad():
        model.head.one2one_cv3[0][-1].bias += 1.0  # branches start as copies: make the one-to-one differ
        many, p1 = model(x)
        model.head.end2end = True
        one, p2 = model(x)
    assert many.shape == one.shape == (2, 4 + 3 + 32, 126)
    assert torch.equal(p1, p2)
    assert torch.equal(many[:, :4], one[:, :4]) and torch.equal(many[:, 11:], one[:, 11:])
    assert not torch.allclose(many[:, 4:7], one[:, 4:7])  # class scores come from the one-to-one branch
