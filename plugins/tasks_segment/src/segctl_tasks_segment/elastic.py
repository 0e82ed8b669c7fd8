"""Automatic resume when ``torchrun --max-restarts=N`` restarts the workers after a failure.

Why: torchrun restarts every worker with the *same* command line. Without help, a restarted
``segctl segment train ...`` would start again at epoch 0 in a new ``train2/`` folder, so a node that
dies in hour 20 would cost 20 hours. Instead, rank 0 leaves a marker (``elastic.json``) in the run
folder naming the torchrun job; a restarted worker (``TORCHELASTIC_RESTART_COUNT > 0``) looks for the
folder of its own job and resumes from its ``weights/last.pt`` -- the ordinary, exact resume.

The job is torchrun's ``--rdzv-id`` (``TORCHELASTIC_RUN_ID``). With the default id ``none`` (a
single-node static launch) it is the torchrun agent's process id on this host: the agent is the
workers' parent and lives across restarts, so a second, unrelated torchrun never matches. Multi-node
restarts need ``--rdzv-id`` and the project folder on a file system all nodes share.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

MARKER = "elastic.json"


def restart_count() -> int:
    """How many times torchrun has restarted this worker group (0 outside torchrun)."""
    try:
        return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0)
    except ValueError:
        return 0


def job_key() -> str | None:
    """The identity of the torchrun job this worker belongs to, or ``None`` outside torchrun."""
    run_id = os.environ.get("TORCHELASTIC_RUN_ID")
    if run_id is None:
        return None
    if run_id.strip().lower() in ("", "none"):
        return f"{socket.gethostname()}:agent-{os.getppid()}"
    return run_id


def write_marker(save_dir: Path) -> None:
    """Record (rank 0, at setup) which torchrun job owns ``save_dir``."""
    key = job_key()
    if key is None:
        return
    from segctl.io import atomic_write_text

    atomic_write_text(Path(save_dir) / MARKER, json.dumps({"job": key, "attempt": restart_count()}) + "\n")


def previous_run(project: str, name: str) -> Path | None:
    """The run folder an earlier attempt of this torchrun job made under ``project`` (``name``,
    ``name2``, ...), newest first; ``None`` when there is none (failure before rank 0's setup)."""
    key = job_key()
    root = Path(project)
    if key is None or not root.is_dir():
        return None
    found = []
    for d in root.iterdir():
        marker = d / MARKER
        if not (d.is_dir() and d.name.startswith(name) and marker.is_file()):
            continue
        try:
            if json.loads(marker.read_text()).get("job") == key:
                found.append((marker.stat().st_mtime, d))
        except (OSError, ValueError):
            continue
    return max(found)[1] if found else None


def auto_resume(cfg: dict, log) -> dict:
    """``cfg`` for a restarted worker: ``resume=<last.pt>`` of the job's run when one was saved,
    else the same run folder again (the failure came before the first epoch ended)."""
    if cfg.get("resume") or restart_count() == 0:
        return cfg
    run = previous_run(cfg.get("project") or str(Path("runs") / "segment"), cfg.get("name") or "train")
    if run is None:
        log(f"torchrun restart {restart_count()}: no earlier run folder of this job found, starting afresh")
        return cfg
    last = run / "weights" / "last.pt"
    if last.is_file():
        log(f"torchrun restart {restart_count()}: resuming from {last}")
        return {**cfg, "resume": str(last)}
    log(f"torchrun restart {restart_count()}: {run} has no last.pt yet, training again in it")
    return {**cfg, "project": str(run.parent), "name": run.name, "exist_ok": True}
