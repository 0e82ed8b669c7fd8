"""Model summary: layer table, parameter and gradient counts, GFLOPs.

GFLOPs are measured, not estimated: one real ``1×ch×imgsz×imgsz`` forward under
``torch.utils.flop_counter.FlopCounterMode`` (which counts 2 FLOPs per multiply-accumulate of
convolutions and matmuls). Element-wise ops (BN, activations, additions) are not counted, which is
why figures differ slightly from tools that estimate them (see docs/models.md).
"""
from __future__ import annotations

import re

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_gradients(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def gflops(model: nn.Module, imgsz: int = 640, ch: int | None = None) -> float:
    """Measured GFLOPs of one eval-mode forward at ``imgsz``×``imgsz`` (batch 1)."""
    ch = ch or int(getattr(model, "yaml", {}).get("ch", 3))
    p = next(model.parameters(), None)
    x = torch.zeros(1, ch, imgsz, imgsz, device=p.device if p is not None else "cpu",
                    dtype=p.dtype if p is not None else torch.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 1e9


# A family stem (letters then digits: ``yolov8``, ``yolo11``) at the start of an unscaled config name.
_FAMILY_STEM = re.compile(r"^([A-Za-z]+\d+)(?=-|$)")


def model_name(model: nn.Module) -> str:
    """The config's file stem, with the scale inserted after the family stem when the file is the
    unscaled family YAML (``yolo11-seg.yaml`` built at scale ``s`` → ``yolo11s-seg``)."""
    cfg = getattr(model, "yaml", {}) or {}
    stem = str(cfg.get("yaml_file", "model")).replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    scale = cfg.get("scale")
    m = _FAMILY_STEM.match(stem)
    if scale and m:
        stem = f"{m.group(1)}{scale}{stem[m.end(1):]}"
    return stem


def model_info(model: nn.Module, imgsz: int = 640, verbose: bool = True) -> dict:
    """Return ``{"layers", "params", "gradients", "gflops", "name", "fused"}``; print when ``verbose``."""
    info = {
        "name": model_name(model),
        "layers": len(list(model.modules())),
        "params": count_params(model),
        "gradients": count_gradients(model),
        "gflops": gflops(model, imgsz) if imgsz else None,
        "fused": bool(getattr(model, "fused", False)),
        "imgsz": imgsz,
    }
    if verbose:
        print_info(model, info)
    return info


def print_info(model: nn.Module, info: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=None, show_edge=False, header_style="bold")
    for col, just in (("", "right"), ("from", "right"), ("n", "right"), ("params", "right"),
                      ("module", "left"), ("arguments", "left")):
        table.add_column(col, justify=just)
    for m in getattr(model, "model", []):
        table.add_row(str(m.i), str(m.f), str(getattr(m, "yaml_n", 1)), f"{m.np:,}", str(m.type), _short(getattr(m, "yaml_args", "")))
    console = Console()
    console.print(table)
    fl = f", {info['gflops']:.1f} GFLOPs" if info["gflops"] is not None else ""
    fused = " (fused)" if info["fused"] else ""
    console.print(
        f"{info['name']} summary{fused}: {info['layers']:,} layers, {info['params']:,} parameters, "
        f"{info['gradients']:,} gradients{fl}",
        highlight=False,
    )


def _short(args, limit: int = 60) -> str:
    s = repr(args)
    return s if len(s) <= limit else s[: limit - 1] + "…"
