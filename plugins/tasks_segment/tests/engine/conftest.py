"""Fixtures of the engine tests: a session, a tiny shapes dataset, a tiny saved checkpoint, a base cfg."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def session():
    from segctl.session import Session

    return Session.create()


@pytest.fixture(scope="module")
def shapes_data(tmp_path_factory):
    from segctl_dataset_shapes.generate import generate

    return str(generate(tmp_path_factory.mktemp("shapes"), n_train=8, n_val=4, imgsz=64, seed=0))


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, session):
    """A random yolov8n-seg with 7 classes saved as a segctl checkpoint (what predict/val load)."""
    from segctl.nn import build_from_session, make_checkpoint, save_checkpoint

    names = {i: n for i, n in enumerate(["circle", "ellipse", "triangle", "rectangle", "star", "hexagon", "ring"])}
    model = build_from_session("yolov8n-seg.yaml", session, nc=7, names=names)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(make_checkpoint(model, imgsz=64), path)
    return path


def base_cfg(**kw) -> dict:
    from segctl_tasks_segment.schema import OPTIONS

    cfg = {o.name: o.default for o in OPTIONS}
    cfg.update(task="segment", verbose=False, plots=False, workers=0)
    cfg.update(kw)
    return cfg


def tmpfs_runner(mountpoint: Path, size_mb: int) -> list[str] | None:
    """A command prefix that runs the rest in a private mount namespace with a ``size_mb`` tmpfs on
    ``mountpoint`` (unprivileged user namespaces), or ``None`` where the OS does not allow that."""
    prefix = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
              f'mount -t tmpfs -o size={size_mb}m tmpfs "$0" && exec "$@"', str(mountpoint)]
    try:
        ok = subprocess.run(prefix + ["true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return prefix if ok else None
