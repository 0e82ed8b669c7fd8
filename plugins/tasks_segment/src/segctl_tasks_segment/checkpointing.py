"""Training-state capture for checkpoints and the rules for resuming a run.

Why: an exact resume needs more than weights (optimiser, EMA + its update count, scheduler,
GradScaler, epoch, best fitness and every RNG stream), and all of it must be *plain data* so the
checkpoint loads with ``torch.load(weights_only=True)``. The resume guards refuse what cannot be
resumed meaningfully (a finished run, another architecture or class list) and list the overrides
that were applied.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from segctl.errors import CheckpointError, ConfigError

#: keys that may differ between the original run and ``resume=...`` (hardware/throughput only).
RESUME_OVERRIDES = ("batch", "device", "workers", "cache", "verbose", "plots", "amp", "resume",
                    "exist_ok", "nproc", "time", "patience", "save_period")
#: keys that never count as an override (they name the run being resumed).
RESUME_IGNORED = ("model", "data", "project", "name", "mode", "task", "pretrained")


def get_rng_state() -> dict:
    """Python, NumPy and torch (CPU + CUDA) RNG streams as plain data."""
    pv, pstate, pgauss = random.getstate()
    np_name, np_keys, np_pos, np_has, np_cached = np.random.get_state()
    state = {
        "python": [pv, list(pstate), pgauss],
        "numpy": [np_name, torch.from_numpy(np.asarray(np_keys, dtype=np.int64)), int(np_pos), int(np_has),
                  float(np_cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict | None) -> None:
    """Restore what :func:`get_rng_state` captured (missing streams are left alone)."""
    if not state:
        return
    if "python" in state:
        pv, pstate, pgauss = state["python"]
        random.setstate((pv, tuple(pstate), pgauss))
    if "numpy" in state:
        name, keys, pos, has, cached = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has, cached))
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all(state["cuda"])
        except (RuntimeError, IndexError):
            pass  # fewer GPUs than when saved: CUDA streams cannot be restored one to one


def all_finite(state_dict: dict | None) -> bool:
    """True when every floating tensor in a state dict is finite (never save NaN/Inf weights)."""
    if not state_dict:
        return True
    return all(torch.isfinite(v).all() for v in state_dict.values()
               if isinstance(v, torch.Tensor) and v.dtype.is_floating_point)


def find_last(project: str | Path) -> Path:
    """Most recent ``last.pt`` under ``project`` (for ``resume=True`` without a path)."""
    cands = sorted(Path(project).glob("**/weights/last.pt"), key=lambda p: p.stat().st_mtime)
    if not cands:
        raise CheckpointError(f"resume=True but no weights/last.pt found under {project}",
                              hint="pass resume=path/to/last.pt")
    return cands[-1]


def resume_overrides(cfg: dict, train_args: dict, defaults: dict) -> tuple[dict, list[str]]:
    """Merge the stored ``train_args`` with what the user changed for the resume.

    A key counts as changed when its value differs from both the stored value and the default.
    Changed keys in :data:`RESUME_OVERRIDES` are applied (and returned for listing); any other
    change raises :class:`ConfigError` naming it and the allowed keys."""
    merged = dict(train_args)
    applied, refused = [], []
    for k, v in cfg.items():
        if k in RESUME_IGNORED or k not in train_args:
            continue
        stored = train_args.get(k)
        if v == stored or (k in defaults and v == defaults[k]):
            continue
        if k in RESUME_OVERRIDES:
            merged[k] = v
            if k != "resume":
                applied.append(f"{k}: {stored!r} -> {v!r}")
        else:
            refused.append(f"{k}={v!r} (run had {stored!r})")
    if refused:
        raise ConfigError("cannot change " + ", ".join(refused) + " when resuming",
                          hint="only these may change on resume: " + ", ".join(RESUME_OVERRIDES)
                          + "; start a new run with model=last.pt to change others")
    for k in RESUME_IGNORED:
        if k in train_args:
            merged[k] = train_args[k]
    return merged, applied


def check_resumable(ckpt: dict, path: Path, cfg: dict, model_yaml: dict | None, names: dict | None) -> None:
    """Refuse resuming a finished run, or one whose architecture/classes differ from what the user
    asked for (``model_yaml``/``names`` are those requested now, ``None`` when not given)."""
    if ckpt.get("epoch", -1) is None or int(ckpt.get("epoch", -1)) < 0 or ckpt.get("optimizer") is None:
        raise CheckpointError(f"{path}: this training run already finished, nothing to resume",
                              hint=f"start a new run from it instead: model={path}")
    if model_yaml is not None and _arch(model_yaml) != _arch(ckpt.get("yaml") or {}):
        raise CheckpointError(f"{path}: resume asked for a different architecture than the run used",
                              hint="drop model=... when resuming, or start a new run with pretrained weights")
    stored_names = {int(k): v for k, v in (ckpt.get("names") or {}).items()}
    if names is not None and stored_names and {int(k): v for k, v in names.items()} != stored_names:
        raise CheckpointError(f"{path}: the data's class list differs from the run's "
                              f"({list(stored_names.values())[:5]}...)",
                              hint="resume with the same dataset, or start a new run with model=last.pt")


def _arch(y: dict) -> tuple:
    """Layer graph of a model YAML (backbone + head rows); class count and scale are compared elsewhere."""
    return (str(y.get("backbone")), str(y.get("head")))


def clean_stray_temp(weights_dir: Path) -> list[Path]:
    """Remove temp files a killed atomic save left behind (``*.tmp*`` in the weights folder)."""
    removed = []
    if weights_dir.is_dir():
        for p in weights_dir.iterdir():
            if ".tmp" in p.name or p.name.startswith(".") and p.name.endswith(".pt.part"):
                try:
                    p.unlink()
                    removed.append(p)
                except OSError:
                    pass
    return removed


def check_resume_key(resume) -> None:
    if resume not in (True, False, None, "") and not isinstance(resume, (str, Path)):
        raise ConfigError(f"resume={resume!r} is not valid", hint="use resume=True or resume=path/to/last.pt")


def strip_checkpoint(path: Path, session=None) -> Path:
    """Finish a checkpoint for use: EMA weights in fp16 as ``model``, no optimiser/EMA/RNG state,
    ``epoch=-1`` (so it cannot be resumed by mistake). Written atomically over ``path``."""
    from segctl.nn.checkpoint import load_checkpoint, save_checkpoint

    ck = dict(load_checkpoint(str(path), session=session))
    weights = ck.get("ema") or ck.get("model") or {}
    ck["model"] = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
    ck.update(ema=None, optimizer=None, scheduler=None, scaler=None, rng=None, epoch=-1, updates=0)
    return save_checkpoint(ck, path)
