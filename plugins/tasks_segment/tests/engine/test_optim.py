"""Optimiser groups, accumulation/warm-up rules, schedule shape, EMA ramp, RNG capture."""
from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import torch
from torch import nn

from segctl.errors import ConfigError
from segctl_tasks_segment import checkpointing as ck
from segctl_tasks_segment import optim


def _net():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Conv2d(8, 4, 1, bias=True))


def test_three_groups_no_decay_on_norm_and_bias():
    opt, name, lr, _ = optim.build_optimizer(_net(), "SGD", lr=0.01, decay=5e-4)
    assert name == "SGD" and len(opt.param_groups) == 3
    bias, weights, norms = opt.param_groups
    assert bias["weight_decay"] == 0 and norms["weight_decay"] == 0 and weights["weight_decay"] == 5e-4
    assert len(bias["params"]) == 3 and len(weights["params"]) == 2 and len(norms["params"]) == 1


def test_auto_picks_adamw_for_short_runs_and_sgd_for_long():
    _, name, lr, mom = optim.build_optimizer(_net(), "auto", iterations=500, nc=7)
    assert name == "AdamW" and lr == pytest.approx(0.002 * 5 / 11, rel=1e-3) and mom == 0.9
    assert optim.build_optimizer(_net(), "auto", iterations=50_000)[1] == "SGD"
    for n in ("Adam", "NAdam", "RAdam", "RMSProp", "adamw"):
        optim.build_optimizer(_net(), n)
    with pytest.raises(ConfigError, match="optimizer"):
        optim.build_optimizer(_net(), "Lion")


def test_accumulation_keeps_enough_steps_per_epoch():
    assert optim.accumulation_steps(64, 16, 8) == 1        # 128 images at batch 16: step every batch
    assert optim.accumulation_steps(64, 4, 32) == 1        # ... and at batch 4 too (steps limit small sets)
    assert optim.accumulation_steps(64, 4, 200) == 3       # 800 images: capped so >= 64 steps per epoch
    assert optim.accumulation_steps(64, 16, 1000) == 4     # big sets keep the nominal batch
    assert optim.accumulation_steps(64, 128, 100) == 1
    assert optim.warmup_iterations(3, 8, 30) == 24         # 3 epochs = 10 % of a 30-epoch run
    assert optim.warmup_iterations(3, 10, 1000) == 30      # long run: 3 epochs, no 100-iteration floor
    assert optim.warmup_iterations(3, 32, 10) == 32        # short run: capped at 10 % (not 3 of 10 epochs)
    assert optim.warmup_iterations(3, 1, 2) == 1           # at least one iteration
    assert optim.warmup_iterations(0, 10, 10) == 0


def test_auto_batch_gives_small_sets_enough_steps():
    """batch=-1: the largest of 16/8/4 with >= 32 batches per epoch (docs/training.md, the default rule)."""
    assert [optim.auto_batch(n) for n in (10, 128, 255, 256, 511, 512, 118_287)] == [4, 4, 4, 8, 8, 16, 16]
    assert optim.auto_batch(128, world=8) == 8             # at least one image per process
    assert optim.resolve_batch(-1, 128) == 4 and optim.resolve_batch(-1, 5000) == 16
    assert optim.resolve_batch(16, 128) == 16 and optim.resolve_batch(2.0, 128) == 2   # a given batch is kept
    for bad in (0, -2, 2.5, "x"):
        with pytest.raises(ConfigError, match="batch"):
            optim.resolve_batch(bad, 128)


def test_schema_default_batch_is_auto():
    from segctl_tasks_segment.schema import OPTIONS

    assert next(o for o in OPTIONS if o.name == "batch").default == -1


def test_lr_schedule_ends_at_lrf():
    for cos in (False, True):
        lf = optim.lr_lambda(10, 0.01, cos)
        assert lf(0) == pytest.approx(1.0) and lf(10) == pytest.approx(0.01)
        assert lf(3) > lf(7)


def test_warmup_ramps_bias_down_and_weights_up():
    net = _net()
    opt, *_ = optim.build_optimizer(net, "SGD", lr=0.01)
    sch = torch.optim.lr_scheduler.LambdaLR(opt, optim.lr_lambda(10, 0.01))
    lf = optim.lr_lambda(10, 0.01)
    optim.warmup_step(opt, 0, 10, 0, lf, 0.01, 0.937, 0.1, 0.8)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1) and opt.param_groups[1]["lr"] == 0
    optim.warmup_step(opt, 10, 10, 0, lf, 0.01, 0.937, 0.1, 0.8)
    assert all(g["lr"] == pytest.approx(0.01) for g in opt.param_groups)
    assert opt.param_groups[1]["momentum"] == pytest.approx(0.937)
    del sch


def test_ema_ramp_and_update():
    net = _net()
    ema = optim.ModelEMA(net, decay=0.9999, tau=2000)
    assert ema.decay() == 0
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    ema.update(net)  # updates=1: decay ~5e-5, EMA ~ the model
    assert ema.updates == 1
    for (k, v), (_, w) in zip(ema.ema.state_dict().items(), net.state_dict().items()):
        if v.dtype.is_floating_point:
            assert torch.allclose(v, w, atol=1e-3), k
    ema.updates = 20000
    assert ema.decay() == pytest.approx(0.9999, rel=1e-4)


def test_rng_state_round_trip_is_plain_data(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    st = ck.get_rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    torch.save(st, tmp_path / "rng.pt")
    ck.set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_resume_overrides_allowed_and_refused():
    stored = {"batch": 16, "lr0": 0.01, "device": "cpu", "epochs": 3, "data": "a.yaml"}
    defaults = {"batch": 16, "lr0": 0.01, "device": None, "epochs": 100, "workers": 8}
    merged, applied = ck.resume_overrides({"batch": 8, "lr0": 0.01, "device": "cpu", "epochs": 100}, stored, defaults)
    assert merged["batch"] == 8 and merged["epochs"] == 3 and applied == ["batch: 16 -> 8"]
    with pytest.raises(ConfigError, match="lr0"):
        ck.resume_overrides({"lr0": 0.02}, stored, defaults)


def test_finished_or_foreign_runs_refused(tmp_path):
    from segctl.errors import CheckpointError

    done = {"epoch": -1, "optimizer": None, "yaml": {"backbone": [1], "head": [2]}, "names": {0: "a"}}
    with pytest.raises(CheckpointError, match="already finished"):
        ck.check_resumable(done, tmp_path / "last.pt", {}, None, None)
    live = dict(done, epoch=1, optimizer={"state": {}})
    with pytest.raises(CheckpointError, match="architecture"):
        ck.check_resumable(live, tmp_path / "last.pt", {}, {"backbone": [9], "head": [2]}, None)
    with pytest.raises(CheckpointError, match="class list"):
        ck.check_resumable(live, tmp_path / "last.pt", {}, None, {0: "b"})
    ck.check_resumable(live, tmp_path / "last.pt", {}, {"backbone": [1], "head": [2]}, {0: "a"})


def test_ema_reuses_its_tensor_list_with_identical_results():
    """The EMA keeps the paired tensor lists between steps; the result equals a fresh state_dict
    walk every step, also after in-place loads and after a parameter is replaced."""
    torch.manual_seed(0)
    net = _net()
    fast = optim.ModelEMA(net)
    plain = optim.ModelEMA(net)
    plain._tensors = lambda src: _fresh_pairs(plain, src)  # no reuse: the previous behaviour
    for step in range(6):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        if step == 2:
            net.load_state_dict({k: v * 0.5 for k, v in net.state_dict().items()})  # in place (NaN restore)
        if step == 4:
            net[0].weight = nn.Parameter(net[0].weight.detach().clone() + 1)  # replaced: rebuilt
        fast.update(net)
        plain.update(net)
        for (k, a), b in zip(fast.ema.state_dict().items(), plain.ema.state_dict().values()):
            assert torch.equal(a, b), (step, k)
    assert fast.updates == plain.updates == 6


def _fresh_pairs(ema, src):
    msd, esd = src.state_dict(), ema.ema.state_dict()
    keys = [k for k, v in esd.items() if v.dtype.is_floating_point]
    return [esd[k] for k in keys], [msd[k].detach().to(esd[k].dtype) for k in keys]


def test_adam_family_uses_the_fused_kernel_on_cpu():
    opt, name, *_ = optim.build_optimizer(_net(), "AdamW", lr=1e-3)
    assert all(g.get("fused") for g in opt.param_groups)
    assert not any(g.get("fused") for g in optim.build_optimizer(_net(), "NAdam", lr=1e-3)[0].param_groups)
    # same update as the foreach path up to float rounding (no bias right before a BatchNorm: its
    # gradient is rounding noise, which Adam scales up to full steps in either path)
    torch.manual_seed(0)
    a = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 8, 3), nn.SiLU(), nn.Conv2d(8, 4, 1))
    b = copy.deepcopy(a)
    b.load_state_dict(a.state_dict())
    oa = optim.build_optimizer(a, "AdamW", lr=1e-2, decay=1e-2)[0]
    ob = optim.build_optimizer(b, "AdamW", lr=1e-2, decay=1e-2)[0]
    for g in ob.param_groups:  # the previous (foreach) path
        g["fused"], g["foreach"] = None, True
    for _ in range(5):
        x = torch.randn(2, 3, 8, 8)
        for net, opt in ((a, oa), (b, ob)):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.allclose(va, vb, atol=1e-6), k
