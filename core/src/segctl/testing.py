"""pytest plugin for segctl and its plugin authors (registered through the ``pytest11`` entry point).

Fixtures:
- ``segctl_isolated_cache`` (automatic): ``SEGCTL_CACHE_DIR`` set to a per-session temporary folder;
- ``segctl_session_factory(*names, extra=...)``: a Session with only the named plugins loaded;
- ``segctl_session``: a Session with every installed plugin;
- ``segctl_cli``: run the CLI in-process, returning ``(exit_code, stdout, stderr)``;
- ``tiny_seg_model``: a small random yolov8n-seg model (nc=3) for shape/parity tests;
- ``tiny_dataset``: a tiny synthetic shapes dataset (YOLO + COCO) made at run time, cached per session.

Conformance checks (plain functions, call them from your plugin's tests):
- ``check_runner(spec, output_dir, cfg=...)``: a runner (``segctl_register_runners``) runs a toy
  job with every item exactly once, also when rerun into the same output (:mod:`segctl.runner_check`).
- ``check_tracker(spec, cfg=...)``: a tracker (``segctl_register_trackers``) honours the row layout,
  follows a toy two-object scene with stable ids and restarts ids on ``reset()``
  (:mod:`segctl.tracker_check`).

Importing this module is light (pytest loads it in every run): heavy imports live in fixtures.
"""
from __future__ import annotations

import pytest

from .runner_check import check_runner  # noqa: F401  (public: the runner conformance check)
from .tracker_check import check_tracker  # noqa: F401  (public: the tracker conformance check)


@pytest.fixture(scope="session", autouse=True)
def segctl_isolated_cache(tmp_path_factory):
    """Point ``SEGCTL_CACHE_DIR`` (compiled models) at a folder of this test session, so
    tests never read or write the user's cache; a test may still set its own."""
    import os

    old = os.environ.get("SEGCTL_CACHE_DIR")
    os.environ["SEGCTL_CACHE_DIR"] = str(tmp_path_factory.mktemp("segctl-cache"))
    yield os.environ["SEGCTL_CACHE_DIR"]
    if old is None:
        os.environ.pop("SEGCTL_CACHE_DIR", None)
    else:
        os.environ["SEGCTL_CACHE_DIR"] = old


@pytest.fixture
def segctl_session_factory():
    from .session import Session

    def make(*only, extra=(), autoload=None):
        return Session.create(only=only, extra=extra, autoload=autoload)

    return make


@pytest.fixture
def segctl_session():
    from .session import Session

    return Session.create()


@pytest.fixture
def segctl_cli(capsys):
    from .cli.main import main

    def run(*args: str):
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """Path of a tiny shapes dataset YAML (16 train / 8 val images at 96 px)."""
    gen = pytest.importorskip("segctl_dataset_shapes.generate", reason="segctl-dataset-shapes not installed")
    root = tmp_path_factory.mktemp("shapes")
    return gen.generate(root, n_train=16, n_val=8, imgsz=96, seed=0)


@pytest.fixture
def tiny_seg_model():
    from .session import Session
    from .nn import build_from_session

    model = build_from_session("yolov8n-seg.yaml", Session.create(), nc=3)
    return model.eval()
