"""Validation and training plots (matplotlib, Agg backend: works headless and in threads-free CI).

Why ``Figure`` objects and not ``pyplot``: pyplot keeps global state; building figures directly
never leaks memory across epochs and never needs a display.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def _figure(nrows=1, ncols=1, size=(9, 6)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, tight_layout=True)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _name(names, c):
    if isinstance(names, dict):
        return str(names.get(int(c), c))
    if names is not None and int(c) < len(names):
        return str(names[int(c)])
    return str(c)


def plot_pr_curve(px, prec, ap, path, names=None, classes=None):
    """Precision-recall curve at IoU 0.5 per class (legend when <= 20 classes) and the mean."""
    fig, ax = _figure()
    ax = ax[0, 0]
    classes = np.arange(len(prec)) if classes is None else classes
    show = len(prec) <= 20
    for i, y in enumerate(prec):
        label = f"{_name(names, classes[i])} {ap[i, 0]:.3f}" if show else None
        ax.plot(px, y, linewidth=1, label=label)
    if len(prec):
        ax.plot(px, prec.mean(0), linewidth=3, color="blue", label=f"all classes {ap[:, 0].mean():.3f} mAP@0.5")
    ax.set(xlabel="Recall", ylabel="Precision", xlim=(0, 1), ylim=(0, 1), title="Precision-Recall Curve")
    ax.legend(loc="lower left", fontsize=8)
    fig.savefig(path, dpi=150)
    return Path(path)


def plot_mc_curve(px, curves, path, names=None, classes=None, xlabel="Confidence", ylabel="Metric"):
    """A metric (F1, P or R) against confidence per class and the smoothed mean."""
    from .ap import smooth

    fig, ax = _figure()
    ax = ax[0, 0]
    classes = np.arange(len(curves)) if classes is None else classes
    show = len(curves) <= 20
    for i, y in enumerate(curves):
        ax.plot(px, y, linewidth=1, label=_name(names, classes[i]) if show else None)
    if len(curves):
        y = smooth(curves.mean(0), 0.05)
        k = int(y.argmax())
        ax.plot(px, y, linewidth=3, color="blue", label=f"all classes {y[k]:.2f} at {px[k]:.3f}")
    ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(0, 1), ylim=(0, 1), title=f"{ylabel}-{xlabel} Curve")
    ax.legend(loc="lower left", fontsize=8)
    fig.savefig(path, dpi=150)
    return Path(path)


def plot_metric_curves(metrics, save_dir, names=None) -> list:
    """All curves of a DetMetrics/SegmentMetrics: ``{Box,Mask}{PR,F1,P,R}_curve.png``."""
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    names = names if names is not None else getattr(metrics, "names", None)
    out = []
    for suffix, metric, *_ in metrics._kinds():
        d = metric.curves_data
        if not d:
            continue
        pre = "Box" if suffix == "B" else "Mask"
        cls = metric.ap_class_index
        out.append(plot_pr_curve(d["px"], d["prec"], metric.all_ap, save_dir / f"{pre}PR_curve.png", names, cls))
        for key, label, short in (("f1_curve", "F1", "F1"), ("p_curve", "Precision", "P"), ("r_curve", "Recall", "R")):
            out.append(plot_mc_curve(d["px"], d[key], save_dir / f"{pre}{short}_curve.png", names, cls,
                                     ylabel=label))
    return out


def plot_confusion_matrix(matrix, path, names=None, normalize=True):
    """Heat map of ``[nc+1, nc+1]`` (rows predicted, columns true); cells annotated when small."""
    nc = matrix.shape[0] - 1
    labels = [_name(names, i) for i in range(nc)] + ["background"]
    fig, ax = _figure(size=(max(6, nc * 0.6 + 3), max(5, nc * 0.5 + 3)))
    ax = ax[0, 0]
    arr = np.where(matrix < (0.005 if normalize else 1), np.nan, matrix.astype(float))
    im = ax.imshow(arr, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(nc + 1), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(nc + 1), labels, fontsize=8)
    if nc < 30:
        for (i, j), v in np.ndenumerate(matrix):
            if v >= (0.005 if normalize else 1):
                ax.text(j, i, f"{v:.2f}" if normalize else f"{int(v)}", ha="center", va="center", fontsize=7,
                        color="white" if v > (0.5 if normalize else matrix.max() / 2) else "black")
    ax.set(xlabel="True", ylabel="Predicted",
           title="Confusion Matrix" + (" Normalized" if normalize else ""))
    fig.savefig(path, dpi=150)
    return Path(path)


def _robust_ylim(y: np.ndarray):
    """A y-range that leaves out isolated spikes: ``None`` unless some value lies more than 20
    inter-quartile ranges above the upper quartile (an ordinary first-epoch loss never does)."""
    v = y[np.isfinite(y)]
    if len(v) < 5:
        return None
    q25, q75 = np.percentile(v, [25, 75])
    iqr = max(q75 - q25, 1e-12)
    keep = v[v <= q75 + 20 * iqr]
    if len(keep) == len(v):
        return None
    return float(v.min() - 0.5 * iqr), float(keep.max() + 0.5 * iqr)


def plot_results(csv_path, out_path=None):
    """One subplot per numeric column of a training ``results.csv`` against ``epoch``; writes
    ``results.png`` next to the CSV (or ``out_path``) and returns its path."""
    csv_path = Path(csv_path)
    with open(csv_path, newline="") as f:
        rows = [{k.strip(): v.strip() for k, v in r.items() if k} for r in csv.DictReader(f)]
    if not rows:
        from segctl.errors import DataError

        raise DataError(f"{csv_path} has no rows to plot", hint="run at least one epoch first")
    cols = [c for c in rows[0] if c != "epoch"]

    def num(v):
        try:
            return float(v)
        except ValueError:
            return np.nan

    x = np.array([num(r.get("epoch", i + 1)) for i, r in enumerate(rows)])
    cols = [c for c in cols if not np.all(np.isnan([num(r[c]) for r in rows]))]
    ncols = 5 if len(cols) > 4 else max(len(cols), 1)
    nrows = max(1, int(np.ceil(len(cols) / ncols)))
    fig, axes = _figure(nrows, ncols, size=(3.2 * ncols, 2.8 * nrows))
    for i, ax in enumerate(axes.ravel()):
        if i >= len(cols):
            ax.axis("off")
            continue
        y = np.array([num(r[cols[i]]) for r in rows])
        ax.plot(x, y, marker=".", linewidth=2, markersize=6, label="results")
        if len(y) > 3:
            k = min(len(y), 5)
            ys = np.convolve(np.pad(y, (k // 2, k - 1 - k // 2), mode="edge"), np.ones(k) / k, mode="valid")
            ax.plot(x, ys, ":", linewidth=2, label="smooth")
        title = cols[i]
        lim = _robust_ylim(y)
        if lim is not None:  # one early blow-up (e.g. val loss before BN statistics settle) would flatten the rest
            ax.set_ylim(*lim)
            title += f" (max {np.nanmax(y):.3g} off scale)"
        ax.set_title(title, fontsize=10)
    axes.ravel()[0].legend(fontsize=7)
    out = Path(out_path) if out_path else csv_path.with_name("results.png")
    fig.savefig(out, dpi=120)
    return out
