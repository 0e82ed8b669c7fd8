"""Shared set-up of the engines: run folders, dataset splits, loaders and the model to train.

Why separate: trainer, validator and predictor all need "where do outputs go", "which split of
which dataset" and "which model"; keeping those decisions here keeps them identical everywhere.
"""
from __future__ import annotations

import os
import sys
import random
import warnings
from pathlib import Path

from segctl.errors import ConfigError


def run_dir_for(cfg: dict, mode: str, is_main: bool = True) -> Path:
    """``runs/segment/<mode>[N]`` (or ``project/name``); only the main process creates it."""
    from segctl.runs import increment_run_dir

    project = cfg.get("project") or str(Path("runs") / "segment")
    name = cfg.get("name") or mode
    if not is_main:
        return Path(project) / name
    return increment_run_dir(project, name, bool(cfg.get("exist_ok")))


def default_workers(cfg: dict) -> int:
    """``workers`` capped at the CPU count (0 loads in the main process)."""
    w = cfg.get("workers")
    cpus = os.cpu_count() or 1
    w = min(8, cpus) if w is None else int(w)
    if w and any(m in sys.modules for m in _NOT_FORK_SAFE):
        # DataLoader workers are forked; a process already running TensorFlow's (or Paddle's)
        # thread pools crashes in the child. Load in the main process instead of crashing.
        return 0
    return max(min(w, cpus), 0)


#: runtimes whose threads do not survive fork(): with one loaded, data is loaded in-process
_NOT_FORK_SAFE = ("tensorflow", "paddle")


def load_split(fmt, data_cfg: dict, split: str, cfg: dict, check_drop: bool = True):
    """Verify one split through the dataset-format plugin and apply ``fraction``/``single_cls``.

    The drop-ratio check (``max_drop_ratio``) runs before any epoch so a badly broken dataset fails
    fast with a table of reasons instead of training quietly on what is left."""
    index = fmt.load(data_cfg, split, task="segment", strict=bool(cfg.get("strict")),
                     workers=max(default_workers(cfg), 1))
    if check_drop:
        _check_drop(index, float(cfg.get("max_drop_ratio", 0.2) if cfg.get("max_drop_ratio") is not None else 0.2))
    frac = float(cfg.get("fraction") or 1.0)
    if split == "train" and 0 < frac < 1:
        index.records = index.records[:max(int(round(len(index.records) * frac)), 1)]
    if cfg.get("single_cls"):
        import numpy as np

        for r in index.records:
            r["cls"] = np.zeros_like(r["cls"])
        index.names = {0: "item"}
    if not index.records:
        from segctl.errors import DataError

        raise DataError(f"dataset split '{split}' has no usable images", hint="check the paths in the dataset YAML")
    return index


def _check_drop(index, ratio: float) -> None:
    try:
        from segctl_dataset_yolo.drop import check_drop_ratio
    except ImportError:  # the check lives with the YOLO format plugin; without it, only warn
        skipped = len(index.report.skipped)
        if skipped:
            warnings.warn(f"{skipped} of {index.report.found} images are unusable", stacklevel=2)
        return
    check_drop_ratio(index.report, ratio)


def make_loader(index, cfg: dict, imgsz: int, batch: int, stride: int, *, train: bool, rank: int = -1,
                world: int = 1, rect: bool | None = None):
    """``(DataLoader, dataset)`` for a split: augmented + shuffled for training, ``rect`` batches
    (minimal padding, sorted by aspect ratio) for validation unless ``rect=False`` (a fixed-size
    exported model needs square ``imgsz`` inputs)."""
    from .data import SegmentDataset, build_dataloader

    hyp = dict(cfg)
    ds = SegmentDataset(index, imgsz=imgsz, augment=train, hyp=hyp, rect=(bool(cfg.get("rect")) or not train) if rect is None else rect,
                        batch_size=batch, stride=stride, mask_ratio=int(cfg.get("mask_ratio") or 4),
                        overlap=bool(cfg.get("overlap_mask", True)), cache=cfg.get("cache") or None,
                        seed=int(cfg.get("seed") or 0) + max(rank, 0))
    workers = default_workers(cfg)
    loader = build_dataloader(ds, batch, workers, shuffle=train and not cfg.get("rect"), rank=rank,
                              seed=int(cfg.get("seed") or 0))
    return loader, ds


def build_train_model(cfg: dict, session, names: dict, resume_ckpt: dict | None = None):
    """The model to train: from the resumed checkpoint, an in-memory model, a YAML/config name, or a
    checkpoint (its architecture, classes reset to the data's); ``pretrained=path`` transfers the
    matching weights of another checkpoint."""
    from segctl.nn.checkpoint import load_checkpoint, model_from_checkpoint
    from segctl.nn.registry_helpers import build_from_session
    from segctl.nn.transfer import transfer_weights

    nc = len(names)
    if resume_ckpt is not None:
        model = model_from_checkpoint(resume_ckpt, session=session, prefer_ema=False)
    elif cfg.get("model_object") is not None:
        src = cfg["model_object"]
        model = src if getattr(src, "nc", nc) == nc else _rebuild_with_nc(src, session, nc, names)
    else:
        m = cfg.get("model")
        if not m:
            raise ConfigError("no model given", hint="pass model=yolov8n-seg.yaml (scratch) or model=best.pt")
        m = str(m)
        if m.endswith((".pt", ".pth", ".safetensors")):
            ck = load_checkpoint(m, session=session)
            src = model_from_checkpoint(ck, session=session)
            model = src if src.nc == nc else _rebuild_with_nc(src, session, nc, names)
        else:
            model = build_from_session(m, session, nc=nc, names=names)
    model.names = dict(names)
    model.nc = nc
    pre = cfg.get("pretrained")
    if isinstance(pre, str) and pre not in ("", "True", "False") and resume_ckpt is None:
        ck = load_checkpoint(pre, session=session)
        n, total = transfer_weights(model, ck.get("ema") or ck.get("model") or {})
        print(f"transferred {n}/{total} items from {pre}")
    for p in model.parameters():
        p.requires_grad_(True)
    return model.float()


def _rebuild_with_nc(src, session, nc: int, names: dict):
    """Same architecture with a new class count; every tensor that still fits is transferred."""
    from segctl.nn.parser import build_model
    from segctl.nn.registry_helpers import layers_from_session
    from segctl.nn.transfer import transfer_weights

    model = build_model(dict(src.yaml), layers=layers_from_session(session), nc=nc, names=names,
                        task=getattr(src, "task", None) or None)
    transfer_weights(model, src.state_dict())
    return model


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and torch; deterministic CUDA kernels when asked (CPU ones already are)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic and torch.cuda.is_available():  # CPU kernels used here are deterministic already
        torch.use_deterministic_algorithms(True, warn_only=True)
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def try_plot_labels(dataset, names, save_dir: Path) -> None:
    try:
        from .data import plots

        plots.plot_labels(dataset.index, names, save_dir / "labels.jpg")
    except Exception as e:  # noqa: BLE001 - plots are optional output
        warnings.warn(f"labels.jpg not drawn: {e}", stacklevel=2)


def try_plot_batch(batch, path: Path, names) -> None:
    try:
        from .data import plots

        plots.plot_batch(batch, names, path)
    except Exception as e:  # noqa: BLE001
        warnings.warn(f"{path.name} not drawn: {e}", stacklevel=2)
