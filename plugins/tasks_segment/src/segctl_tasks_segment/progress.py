"""Console output of the segment task: per-epoch progress bars and metric tables (rich).

Why one module: trainer, validator and predictor print the same kinds of things; keeping the
layout here makes the console look consistent and keeps the engines free of formatting code.
Output goes to stderr-free ``rich.console.Console`` on stdout; ``verbose=False`` silences it.
"""
from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

_console: Console | None = None


def console() -> Console:
    """One shared console (recreated if stdout was swapped, e.g. by pytest's capture)."""
    global _console
    if _console is None or _console.file is not sys.stdout:
        width = None if sys.stdout.isatty() else 160  # logs and CI: do not squeeze tables to 80 columns
        _console = Console(file=sys.stdout, highlight=False, soft_wrap=False, width=width)
    return _console


def epoch_progress(total: int, disable: bool = False) -> Progress:
    """A progress bar for one epoch: ``[description] bar n/N elapsed<eta``."""
    return Progress(TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("<"), TimeRemainingColumn(),
                    console=console(), disable=disable, transient=False)


LOSS_NAMES = ("box_loss", "seg_loss", "cls_loss", "dfl_loss")


def train_header() -> str:
    return (f"{'Epoch':>10}{'GPU_mem':>10}" + "".join(f"{n:>10}" for n in LOSS_NAMES)
            + f"{'Instances':>11}{'Size':>6}")


def train_description(epoch: int, epochs: int, mem: str, losses, instances: int, size: int) -> str:
    """One line: ``epoch/epochs  mem  box seg cls dfl  instances  size``."""
    vals = "".join(f"{float(v):>10.4g}" for v in losses)
    return f"{f'{epoch}/{epochs}':>10}{mem:>10}{vals}{instances:>11}{size:>6}"


def device_memory(device) -> str:
    """GPU memory reserved (``"1.2G"``) or ``"cpu"``."""
    import torch

    if getattr(device, "type", str(device)) == "cuda" and torch.cuda.is_available():
        return f"{torch.cuda.memory_reserved(device) / 1e9:.3g}G"
    if getattr(device, "type", "") == "mps":
        return "mps"
    return "cpu"


def metrics_table(metrics, names: dict, nt_per_class=None, nimg_per_class=None, seen: int = 0,
                  per_class: bool = True, title: str = "") -> Table:
    """Box and mask P, R, mAP50, mAP50-95 for all classes and (optionally) each class."""
    t = Table(title=title or None, show_lines=False, header_style="bold")
    for h in ("Class", "Images", "Instances", "Box(P", "R", "mAP50", "mAP50-95)", "Mask(P", "R", "mAP50",
              "mAP50-95)"):
        t.add_column(h, justify="left" if h == "Class" else "right")

    def row(name, nimg, ninst, box, seg):
        t.add_row(name, str(nimg), str(ninst), *[f"{v:.3f}" for v in (*box, *seg)])

    total_inst = int(sum(nt_per_class)) if nt_per_class is not None else 0
    row("all", seen, total_inst, _mean4(metrics.box), _mean4(metrics.seg))
    if per_class and nt_per_class is not None:
        idx = getattr(metrics, "ap_class_index", None)
        ap_idx = [] if idx is None else list(idx)
        for i, c in enumerate(ap_idx):
            c = int(c)
            row(str(names.get(c, c)), int(nimg_per_class[c]) if nimg_per_class is not None else 0,
                int(nt_per_class[c]), _class4(metrics.box, i), _class4(metrics.seg, i))
    return t


def _mean4(m):
    return (float(m.mp), float(m.mr), float(m.map50), float(m.map))


def _class4(m, i):
    try:
        return tuple(float(v) for v in m.class_result(i))
    except (AttributeError, IndexError, TypeError):
        return (0.0, 0.0, 0.0, 0.0)


def speed_line(speed: dict, shape=None) -> str:
    s = ", ".join(f"{speed.get(k, 0.0):.1f}ms {k}" for k in ("preprocess", "inference", "postprocess"))
    return f"Speed: {s} per image" + (f" at shape {tuple(shape)}" if shape is not None else "")
