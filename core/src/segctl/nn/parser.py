"""Generic YAML → ``nn.Module`` graph builder.

A model YAML lists layers as ``[from, repeats, module, args]`` rows under ``backbone`` and ``head``
(the published YOLOv8 layout). The builder knows no layer type itself: every ``module`` name is looked
up in a ``layers`` mapping (name → class) supplied by the caller, normally built from the plugin
registry, so third-party layer types plug in exactly like the built-in ones.

How YAML ``args`` become constructor arguments is declared by the layer class (see docs/models.md):

* ``from_yaml(args, ch_in, ctx) -> (module, c_out)`` classmethod: full control. ``ch_in`` is the list
  of input channel counts (one per ``from`` source), ``ctx`` a :class:`LayerContext` (``nc``, ``width``,
  ``depth``, ``max_channels``, ``repeats``, ``scale`` (the chosen scale name) and ``channels(c)`` for width
  scaling). ``c_out`` may be
  ``None`` for layers whose output is not a feature map (heads).
* otherwise the class attribute ``channel_rule``:
  ``"conv"``     args ``[c2, *rest]`` → ``cls(c1, scaled c2, *rest)``; repeats stack ``n`` copies;
  ``"repeat"``   as ``"conv"`` but the repeat count goes in as the 3rd argument (``C2f(c1, c2, n, ...)``);
  ``"concat"``   ``cls(*args)``, output channels = sum of the inputs;
  ``"head"``     ``cls(*args, [channels of every input])``, no output channels;
  ``"passthrough"`` (default) ``cls(*args)``, output channels = input channels.

Strings in ``args`` equal to a top-level scalar key of the YAML (``nc``) are replaced by its value and
the string ``None`` becomes ``None``; nothing is ever evaluated.
"""
from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import torch
import yaml as _yaml
from torch import nn

from ..errors import ConfigError, UsageError

DUMMY_STRIDE_SIZE = 256

# Caps on what a model description may ask for. Why: a checkpoint's YAML comes from whoever sent the
# file, and every one of these numbers costs memory and time linearly before any weight is checked
# (200 000 repeats of one layer: +340 MB, 8 s). Each cap is far above any published architecture.
MAX_LAYERS = 1_000
"""rows in backbone + head (YOLOv8: 23)"""
MAX_REPEATS = 100
"""``repeats`` of one row after depth scaling (YOLOv8x: 9)"""
MAX_NC = 100_000
"""classes (LVIS: 1 203; ImageNet-21k: 21 841)"""
MAX_CHANNELS = 1 << 16
"""any integer argument a ``conv``/``repeat`` row scales as a channel count"""


def make_divisible(x: float, divisor: int = 8) -> int:
    """Round a scaled channel count up to a multiple of ``divisor`` (hardware-friendly widths)."""
    return int(math.ceil(x / divisor) * divisor)


@dataclass
class LayerContext:
    """What a layer's ``from_yaml`` may need to interpret its YAML args."""

    nc: int
    width: float
    depth: float
    max_channels: float
    repeats: int
    index: int
    scale: str | None = None
    """The chosen row of ``scales`` (``"n"``...), for layers whose structure (not only width/depth)
    changes with the scale; ``None`` when the YAML has no ``scales``."""

    def channels(self, c: int) -> int:
        """Scale a channel count by the model width, capped at ``max_channels``."""
        return make_divisible(min(c, self.max_channels) * self.width, 8)


def load_cfg(cfg: str | os.PathLike | Mapping) -> dict:
    """Return a private copy of a model config given as a YAML path or a dict."""
    if isinstance(cfg, Mapping):
        return copy.deepcopy(dict(cfg))
    path = Path(cfg)
    if not path.is_file():
        raise UsageError(f"model config {str(path)!r} not found", hint="pass an existing .yaml file or a registered name")
    try:
        d = _yaml.safe_load(path.read_text(encoding="utf-8"))
    except _yaml.YAMLError as e:
        raise ConfigError(f"model config {str(path)!r} is not valid YAML: {e}") from e
    if not isinstance(d, dict):
        raise ConfigError(f"model config {str(path)!r} must be a mapping", hint="see docs/models.md")
    d.setdefault("yaml_file", str(path))
    return d


def _resolve_scale(d: dict, scale: str | None) -> tuple[float, float, float, str | None]:
    scales = d.get("scales")
    if scales:
        scale = scale or d.get("scale") or next(iter(scales))
        if scale not in scales:
            raise ConfigError(
                f"model config has no scale {scale!r}", hint=f"choose one of {', '.join(map(str, scales))}"
            )
        try:
            depth, width, max_channels = (float(v) for v in scales[scale])
        except (TypeError, ValueError) as e:
            raise ConfigError(f"model config scale {scale!r} must be [depth, width, max_channels] numbers") from e
    else:
        try:
            depth, width = float(d.get("depth_multiple", 1.0)), float(d.get("width_multiple", 1.0))
        except (TypeError, ValueError) as e:
            raise ConfigError("model config depth_multiple/width_multiple must be numbers") from e
        max_channels, scale = math.inf, None
    if not all(math.isfinite(v) and v > 0 for v in (depth, width)) or not max_channels > 0:
        raise ConfigError(f"model config depth/width multiples must be positive, got {depth}, {width}")
    return depth, width, max_channels, scale


def _lookup(name: str, layers: Mapping[str, type], where: str, torch_nn: bool = True) -> type:
    for key in (name, name.removeprefix("torch.").removeprefix("nn.")):
        if key in layers:
            return layers[key]
    if torch_nn and name.startswith(("nn.", "torch.nn.")):
        cls = getattr(nn, name.rsplit(".", 1)[-1], None)
        if isinstance(cls, type) and issubclass(cls, nn.Module):
            return cls
    close = get_close_matches(name, list(layers), n=3)
    raise ConfigError(
        f"{where}: unknown layer type {name!r}",
        hint=(f"did you mean {', '.join(close)}? " if close else "")
        + "layer types come from plugins (segctl plugins lists them)",
    )


def _substitute(args: list, d: dict) -> list:
    out = []
    for a in args:
        if a == "None":
            a = None
        elif isinstance(a, str) and a in d and isinstance(d[a], (int, float)) and not isinstance(d[a], bool):
            a = d[a]
        out.append(a)
    return out


class GraphModel(nn.Module):
    """A layer graph built from a YAML: ``model`` is a ModuleList (``model.N.…`` parameter names);
    each layer carries ``i`` (index), ``f`` (from), ``type`` (YAML name) and ``np`` (parameters)."""

    def __init__(self, modules: list[nn.Module], save: list[int], cfg: dict, names: dict, nc: int, task: str):
        super().__init__()
        self.model = nn.ModuleList(modules)
        self.save = sorted(save)
        self.yaml = cfg
        self.names = names
        self.nc = nc
        self.task = task
        self.stride = torch.tensor([32.0], device="cpu")

    @property
    def head(self) -> nn.Module:
        return self.model[-1]

    def forward(self, x):
        y: list[Any] = []
        for m in self.model:
            if m.f != -1:
                x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
            x = m(x)
            y.append(x if m.i in self.save else None)
        return x

    def fuse(self) -> "GraphModel":
        """Fold every BatchNorm that follows a conv into the conv (inference speed-up)."""
        from .fuse import fuse_model

        return fuse_model(self)

    def info(self, imgsz: int = 640, verbose: bool = True) -> dict:
        """Layers, parameters, gradients and GFLOPs at ``imgsz``; prints a table when ``verbose``."""
        from .info import model_info

        return model_info(self, imgsz=imgsz, verbose=verbose)


def build_model(
    cfg: str | os.PathLike | Mapping,
    *,
    layers: Mapping[str, type],
    nc: int | None = None,
    ch: int = 3,
    names: Mapping[int, str] | list | None = None,
    scale: str | None = None,
    task: str | None = None,
    torch_nn: bool = True,
) -> GraphModel:
    """Build a :class:`GraphModel` from a YAML path or dict; see the module docstring for the rules.

    ``nc`` overrides the YAML's class count, ``scale`` picks a row of ``scales`` (default: the
    YAML's ``scale`` key, else the first row). The returned model's ``yaml`` holds the resolved
    ``nc``/``scale``/``ch`` so it can be rebuilt from a checkpoint alone.

    ``torch_nn=False`` resolves only registered layer types (a YAML from a checkpoint must not reach
    an arbitrary ``torch.nn`` class); the caps ``MAX_LAYERS``/``MAX_REPEATS``/``MAX_NC``/``MAX_CHANNELS``
    always apply.
    """
    d = load_cfg(cfg)
    if names is not None:
        names = dict(enumerate(names)) if isinstance(names, (list, tuple)) else {int(k): str(v) for k, v in names.items()}
        nc = nc if nc is not None else len(names)
    if nc is not None:
        d["nc"] = int(nc)
    if "nc" not in d:
        raise ConfigError("model config has no 'nc' (number of classes)", hint="add nc: to the YAML or pass nc=")
    if isinstance(d["nc"], bool) or not isinstance(d["nc"], int) or not 0 < d["nc"] <= MAX_NC:
        raise ConfigError(f"model config nc={d['nc']!r} must be an integer in 1..{MAX_NC}")
    nc = int(d["nc"])
    depth, width, max_channels, scale = _resolve_scale(d, scale)
    if scale is not None:
        d["scale"] = scale
    d["ch"] = ch
    for key in ("backbone", "head"):
        if not isinstance(d.get(key) or [], list):
            raise ConfigError(f"model config '{key}' must be a list of [from, repeats, module, args] rows")
    rows = list(d.get("backbone") or []) + list(d.get("head") or [])
    if len(rows) > MAX_LAYERS:
        raise ConfigError(f"model config has {len(rows)} layers (limit {MAX_LAYERS})")
    if not rows:
        raise ConfigError("model config has no layers", hint="it needs 'backbone' and/or 'head' lists")

    chs: list[int | None] = []
    modules, save = [], set()
    for i, row in enumerate(rows):
        where = f"model config layer {i}"
        if not (isinstance(row, (list, tuple)) and len(row) == 4 and isinstance(row[2], str)):
            raise ConfigError(f"{where}: expected [from, repeats, module, args], got {row!r}")
        f, n, mname, args = row
        if isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= MAX_REPEATS:
            raise ConfigError(f"{where}: repeats {n!r} must be an integer in 1..{MAX_REPEATS}")
        if not isinstance(args or [], list):
            raise ConfigError(f"{where}: args must be a list, got {type(args).__name__}")
        froms = [f] if isinstance(f, int) else list(f)
        if not froms or not all(isinstance(j, int) and (j == -1 or -i <= j < i) for j in froms):
            raise ConfigError(f"{where}: invalid 'from' {f!r} (must refer to earlier layers)")
        cls = _lookup(mname, layers, where, torch_nn)
        args = _substitute(list(args or []), d)
        n = max(round(n * depth), 1) if n > 1 else int(n)
        if n > MAX_REPEATS:
            raise ConfigError(f"{where}: {row[1]} repeats x depth {depth} = {n} (limit {MAX_REPEATS})")
        ch_in = [(chs[j] if chs else ch) for j in froms]
        ctx = LayerContext(nc=nc, width=width, depth=depth, max_channels=max_channels, repeats=n, index=i,
                           scale=scale)
        try:
            m, c2 = _construct(cls, args, ch_in, ctx)
        except (TypeError, ValueError, IndexError) as e:
            raise ConfigError(f"{where}: cannot build {mname} with args {args!r}: {e}") from e
        m.i, m.f, m.type = i, f, mname
        m.np = sum(p.numel() for p in m.parameters())
        m.yaml_args, m.yaml_n = args, n
        save.update(j % i for j in froms if j != -1)
        modules.append(m)
        chs.append(c2)

    head_cls = type(modules[-1])
    task = task or getattr(head_cls, "task", None) or d.get("task") or ""
    if names is None:
        names = {k: str(v) for k, v in enumerate(d["names"])} if isinstance(d.get("names"), list) else (
            {int(k): str(v) for k, v in d["names"].items()} if isinstance(d.get("names"), dict) else None
        )
    if names is None or len(names) != nc:
        names = {k: f"class{k}" for k in range(nc)}
    model = GraphModel(modules, sorted(save), d, dict(names), nc, task)
    _init_stride(model, ch)
    return model


def _construct(cls: type, args: list, ch_in: list, ctx: LayerContext):
    if hasattr(cls, "from_yaml"):
        return cls.from_yaml(args, ch_in, ctx)
    rule = getattr(cls, "channel_rule", "passthrough")
    n = ctx.repeats
    if rule in ("conv", "repeat"):
        c2 = args[0] if args else ch_in[0]
        if isinstance(c2, bool) or not isinstance(c2, int) or not 0 < c2 <= MAX_CHANNELS:
            raise ValueError(f"channel count {c2!r} must be an integer in 1..{MAX_CHANNELS}")
        if c2 != ctx.nc:
            c2 = ctx.channels(c2)
            if c2 > MAX_CHANNELS:
                raise ValueError(f"{args[0]} channels x width {ctx.width} = {c2} (limit {MAX_CHANNELS})")
        args = [ch_in[0], c2, *args[1:]]
        if rule == "repeat":
            args.insert(2, n)
            n = 1
    elif rule == "concat":
        c2 = sum(ch_in)
    elif rule == "head":
        args = [*args, list(ch_in)]
        c2 = None
    elif rule == "passthrough":
        c2 = ch_in[0]
    else:
        raise ValueError(f"unknown channel_rule {rule!r} on {cls.__name__}")
    m = nn.Sequential(*(cls(*args) for _ in range(n))) if n > 1 else cls(*args)
    return m, c2


def _init_stride(model: GraphModel, ch: int) -> None:
    """Find each head input's stride with one dummy forward (a hook records the head's inputs)."""
    seen: list = []
    hook = model.head.register_forward_pre_hook(lambda mod, inp: seen.append(inp[0]))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, ch, DUMMY_STRIDE_SIZE, DUMMY_STRIDE_SIZE))
    finally:
        hook.remove()
        model.train(was_training)
    feats = seen[0] if seen else None
    feats = feats if isinstance(feats, (list, tuple)) else [feats]
    if all(isinstance(t, torch.Tensor) and t.dim() == 4 for t in feats):
        model.stride = torch.tensor([DUMMY_STRIDE_SIZE / t.shape[-2] for t in feats], dtype=torch.float32, device="cpu")
    head = model.head
    if hasattr(head, "stride"):
        head.stride = model.stride.clone()
    if hasattr(head, "bias_init"):
        head.bias_init()
