"""Built-in training loggers, implemented on the core's lifecycle hooks exactly as a third-party
logger would be: ``results.csv`` always, TensorBoard event files when ``tensorboard`` is installed
(``SEGCTL_TENSORBOARD=0`` turns it off)."""
from __future__ import annotations

import importlib.util
import os

from segctl import hookimpl

from .csv_logger import append_row

_writers: dict[str, object] = {}


def _is_main(trainer) -> bool:
    return getattr(trainer, "rank", -1) in (-1, 0)


@hookimpl
def segctl_on_fit_epoch_end(trainer, metrics):
    if not _is_main(trainer):
        return
    append_row(os.path.join(str(trainer.save_dir), "results.csv"), metrics)
    writer = _tensorboard(trainer)
    if writer is not None:
        step = int(metrics.get("epoch", getattr(trainer, "epoch", 0)))
        for k, v in metrics.items():
            if k != "epoch" and isinstance(v, (int, float)):
                writer.add_scalar(k, v, step)
        writer.flush()


@hookimpl
def segctl_on_train_end(trainer):
    writer = _writers.pop(str(getattr(trainer, "save_dir", "")), None)
    if writer is not None:
        writer.close()


def _tensorboard(trainer):
    if os.environ.get("SEGCTL_TENSORBOARD", "1") == "0" or importlib.util.find_spec("tensorboard") is None:
        return None
    key = str(trainer.save_dir)
    if key not in _writers:
        from torch.utils.tensorboard import SummaryWriter

        _writers[key] = SummaryWriter(log_dir=key)
    return _writers[key]
