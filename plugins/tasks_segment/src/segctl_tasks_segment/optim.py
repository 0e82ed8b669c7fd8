"""Optimiser, learning-rate schedule, warm-up and EMA for the segment trainer.

Why a module of its own: these pieces decide whether a run learns at all, and each one is a small
formula that is easy to test in isolation (param groups, warm-up ramp, decay shape, EMA ramp).

Defaults chosen so that small data sets learn fast (the rule and its measurements are in
docs/training.md, "The default rule"):

* ``batch=-1`` (the default) is resolved by :func:`auto_batch` from the training-set size: the
  largest of 16, 8, 4 that still gives an epoch at least ``AUTO_STEPS_PER_EPOCH`` batches. On a small
  set a short run is limited by the *number* of optimiser steps, not their size.
* ``optimizer=auto`` uses SGD (lr0, momentum) for long runs (> 10 000 optimiser iterations) and
  AdamW otherwise, with ``lr = 0.002 * 5 / (4 + nc)`` and betas ``(0.9, 0.999)``: adaptive steps
  learn far faster than SGD when a run only has a few hundred steps.
* gradient accumulation follows the nominal batch ``nbs`` but is capped so an epoch makes at least
  ``MIN_STEPS_PER_EPOCH`` optimiser steps: a 128-image set at batch 16 would otherwise step twice per
  epoch and barely learn. Sets of up to ``64 * batch`` images therefore never accumulate.
* warm-up lasts ``warmup_epochs`` epochs but at most ``WARMUP_MAX_FRACTION`` of the run's iterations
  (no 100-iteration floor: a 10-epoch run on a small set would otherwise warm up for a third of it).
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from segctl.errors import ConfigError

OPTIMIZERS = ("auto", "SGD", "Adam", "AdamW", "NAdam", "RAdam", "RMSProp")
MIN_STEPS_PER_EPOCH = 64
AUTO_BATCH_SIZES = (16, 8, 4)
AUTO_STEPS_PER_EPOCH = 32
WARMUP_MAX_FRACTION = 0.1


def auto_batch(n_images: int, world: int = 1) -> int:
    """The training batch for ``batch=-1``: the largest of 16, 8, 4 with which an epoch of
    ``n_images`` has at least ``AUTO_STEPS_PER_EPOCH`` batches (4 for anything smaller than 256
    images, 16 from 512 on); at least one image per process.

    Why: on a small set a short run is limited by the number of optimiser steps. On the 128-image
    demo set at equal wall time batch 4 reached mask mAP50 0.22 against 0.15 at batch 8 (10 epochs),
    and the plain default run learns nothing for the first 9 epochs at batch 16 (docs/training.md).
    Below 4 the per-image cost on a CPU rises (each step runs the whole network for few images)
    while the per-epoch gain stops, so 4 is the floor. Large sets keep the usual 16."""
    n = max(int(n_images), 1)
    for b in AUTO_BATCH_SIZES:
        if n / b >= AUTO_STEPS_PER_EPOCH:
            return max(b, int(world))
    return max(AUTO_BATCH_SIZES[-1], int(world))


def resolve_batch(batch, n_images: int, world: int = 1) -> int:
    """``batch`` as the trainer uses it: -1 (or any value below 1 given as -1) → :func:`auto_batch`;
    a positive integer is kept; anything else is a :class:`ConfigError`."""
    try:
        b = int(batch) if batch is not None else -1
    except (TypeError, ValueError):
        b = 0
    if b == -1:
        return auto_batch(n_images, world)
    if b < 1 or (isinstance(batch, float) and not float(batch).is_integer()):
        raise ConfigError(f"batch={batch} is not valid for training",
                          hint="use a positive integer, or batch=-1 to have it chosen from the dataset size")
    return b


def accumulation_steps(nbs: int, batch: int, batches_per_epoch: int) -> int:
    """Batches per optimiser step: ``round(nbs / batch)``, capped so an epoch still makes at least
    ``MIN_STEPS_PER_EPOCH`` steps (or one step per batch when the epoch is shorter than that)."""
    acc = max(round(nbs / max(batch, 1)), 1)
    cap = max(batches_per_epoch // MIN_STEPS_PER_EPOCH, 1)
    return max(min(acc, cap), 1)


def warmup_iterations(warmup_epochs: float, batches_per_epoch: int, epochs: int) -> int:
    """Warm-up length in iterations: ``warmup_epochs`` epochs, but at most ``WARMUP_MAX_FRACTION``
    (10 %) of the run's iterations and at least one. Zero when ``warmup_epochs <= 0``.

    Sized to the run, not to a floor: a 10-epoch run would otherwise spend 3 of its 10 epochs
    warming up, and long runs (3 of 100 epochs) are unchanged."""
    if warmup_epochs <= 0:
        return 0
    total = max(epochs * batches_per_epoch, 1)
    return int(max(min(round(warmup_epochs * batches_per_epoch), round(WARMUP_MAX_FRACTION * total)), 1))


def param_groups(model: nn.Module):
    """Split trainable parameters into (decayed weights, norm weights, biases).

    Norm-layer weights and all biases get no weight decay: shrinking a BatchNorm scale or a bias
    towards zero does not regularise, it just fights the data."""
    norm_types = tuple(v for k, v in vars(nn).items() if isinstance(v, type) and "Norm" in k)
    decay, norm, bias = [], [], []
    for module in model.modules():
        for pname, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if pname == "bias":
                bias.append(p)
            elif isinstance(module, norm_types) or "logit_scale" in pname:
                norm.append(p)
            else:
                decay.append(p)
    return decay, norm, bias


def build_optimizer(model: nn.Module, name: str = "auto", lr: float = 0.01, momentum: float = 0.937,
                    decay: float = 5e-4, iterations: float = 1e5, nc: int = 80):
    """Build the optimiser with three parameter groups (see :func:`param_groups`).

    Returns ``(optimizer, resolved_name, lr, momentum)``; the caller records the resolved values
    because ``auto`` changes them."""
    if name not in OPTIMIZERS:
        lowered = {o.lower(): o for o in OPTIMIZERS}
        if str(name).lower() in lowered:
            name = lowered[str(name).lower()]
        else:
            raise ConfigError(f"optimizer={name!r} is not supported",
                              hint="choose one of " + ", ".join(OPTIMIZERS))
    if name == "auto":
        if iterations > 10_000:
            name, momentum = "SGD", momentum
        else:
            name, lr, momentum = "AdamW", round(0.002 * 5 / (4 + nc), 6), 0.9
    g_decay, g_norm, g_bias = param_groups(model)
    if name in ("Adam", "AdamW"):
        # the fused kernel does the whole update in one pass per tensor: half the time of the
        # foreach path on a CPU (6 vs 13 ms per step for yolov8n-seg), same arithmetic up to rounding
        kw = {"fused": True} if _fusable(g_decay + g_norm + g_bias) else {"foreach": True}
        opt = getattr(torch.optim, name)(g_bias, lr=lr, betas=(momentum, 0.999), weight_decay=0.0, **kw)
    elif name in ("NAdam", "RAdam"):
        opt_cls = getattr(torch.optim, name)
        opt = opt_cls(g_bias, lr=lr, betas=(momentum, 0.999), weight_decay=0.0, foreach=True)
    elif name == "RMSProp":
        opt = torch.optim.RMSprop(g_bias, lr=lr, momentum=momentum, foreach=True)
    else:
        opt = torch.optim.SGD(g_bias, lr=lr, momentum=momentum, nesterov=True, foreach=True)
    opt.add_param_group({"params": g_decay, "weight_decay": decay})
    opt.add_param_group({"params": g_norm, "weight_decay": 0.0})
    return opt, name, lr, momentum


def _fusable(params) -> bool:
    """Fused Adam/AdamW kernels exist for float32/float16 tensors on CPU and CUDA."""
    return bool(params) and all(p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float16)
                                for p in params)


def lr_lambda(epochs: int, lrf: float, cos_lr: bool = False):
    """Multiplier of lr0 at epoch ``x``: linear or cosine from 1 down to ``lrf`` at ``epochs``."""
    epochs = max(int(epochs), 1)
    if cos_lr:
        return lambda x: ((1 - math.cos(min(x, epochs) * math.pi / epochs)) / 2) * (lrf - 1) + 1
    return lambda x: max(1 - x / epochs, 0) * (1.0 - lrf) + lrf


def warmup_step(optimizer, ni: int, nw: int, epoch: int, lf, lr0: float, momentum: float,
                warmup_bias_lr: float, warmup_momentum: float) -> None:
    """Set lr (and momentum) of every group for iteration ``ni`` of a ``nw``-iteration warm-up.

    Bias lr falls from ``warmup_bias_lr`` to the scheduled lr; other groups rise from 0. Group 0
    holds the biases (see :func:`build_optimizer`)."""
    if ni > nw or nw <= 0:
        return
    t = ni / nw
    for j, g in enumerate(optimizer.param_groups):
        start = warmup_bias_lr if j == 0 else 0.0
        g["lr"] = start + (g["initial_lr"] * lf(epoch) - start) * t
        if "momentum" in g:
            g["momentum"] = warmup_momentum + (momentum - warmup_momentum) * t
        elif "betas" in g:
            g["betas"] = (warmup_momentum + (momentum - warmup_momentum) * t, g["betas"][1])


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside a DDP/DataParallel wrapper."""
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


def _storage_ptrs(*modules: nn.Module) -> tuple:
    """Where every parameter and buffer of ``modules`` lives now (changes if one is replaced)."""
    return tuple(t.data_ptr() for m in modules for t in (*m.parameters(), *m.buffers()))


class ModelEMA:
    """Exponential moving average of the model's floating-point state.

    ``decay(updates) = decay * (1 - exp(-updates / tau))`` ramps the average in: early weights are
    poor, so the EMA follows the model closely at first and settles to ``decay`` (0.9999) after a
    few ``tau`` (2000) updates. ``updates`` is stored in checkpoints so a resume continues the ramp."""

    def __init__(self, model: nn.Module, decay: float = 0.9999, tau: float = 2000, updates: int = 0):
        self.ema = copy.deepcopy(unwrap(model)).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.decay_max, self.tau, self.updates = decay, tau, int(updates)
        self.enabled = True
        self._pairs = None  # (model id, EMA tensors, model tensors): see update()

    def decay(self) -> float:
        return self.decay_max * (1 - math.exp(-self.updates / self.tau))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        if not self.enabled:
            return
        self.updates += 1
        d = self.decay()
        ema_t, src_t = self._tensors(unwrap(model))
        torch._foreach_mul_(ema_t, d)  # one fused pass over all tensors instead of a Python loop
        torch._foreach_add_(ema_t, src_t, alpha=1 - d)

    def _tensors(self, src: nn.Module):
        """The floating-point state tensors of the EMA and of ``src``, paired by name.

        Built once per model and reused: ``state_dict()`` walks every module (a third of the EMA's
        cost per step), while its tensors alias the parameters and buffers that the optimiser and
        BatchNorm update in place (``load_state_dict`` copies in place too), so the same list stays
        valid. A different model object, or one whose tensors were replaced, rebuilds it."""
        cached = self._pairs
        if cached is not None and cached[0] == id(src) and cached[3] == _storage_ptrs(src, self.ema):
            return cached[1], cached[2]
        msd, esd = src.state_dict(), self.ema.state_dict()
        keys = [k for k, v in esd.items() if v.dtype.is_floating_point]
        ema_t = [esd[k] for k in keys]
        src_t = [msd[k].detach() if msd[k].dtype == esd[k].dtype else msd[k].detach().to(esd[k].dtype)
                 for k in keys]
        if all(msd[k].dtype == esd[k].dtype for k in keys):
            self._pairs = (id(src), ema_t, src_t, _storage_ptrs(src, self.ema))
        return ema_t, src_t

    def update_attr(self, model: nn.Module, names=("yaml", "names", "nc", "stride", "task", "args")) -> None:
        """Copy plain attributes (class names, yaml) so the EMA model can be saved on its own."""
        src = unwrap(model)
        for n in names:
            if hasattr(src, n):
                setattr(self.ema, n, getattr(src, n))

    def is_finite(self) -> bool:
        return all(torch.isfinite(v).all() for v in self.ema.state_dict().values() if v.dtype.is_floating_point)
