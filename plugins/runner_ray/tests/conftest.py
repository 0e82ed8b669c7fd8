"""One local Ray cluster per test module (start-up costs seconds on 2 cores): 2 CPUs, a small object
store, bound to the loopback address only (the environment variable must be set before ray is
imported). Without ray installed every test here skips at collection."""
from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only (before importing ray)

import pytest  # noqa: E402

ray = pytest.importorskip("ray", reason="ray not installed (make install-extras)")
pytest.importorskip("pyarrow", reason="pyarrow not installed")


@pytest.fixture(scope="module")
def ray_cluster():
    """The module's cluster; yields its address (a second driver can join it)."""
    ray.init(num_cpus=2, object_store_memory=200 * 1024 ** 2, include_dashboard=False, logging_level="WARNING",
             log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
