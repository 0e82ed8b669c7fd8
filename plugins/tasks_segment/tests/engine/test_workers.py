"""Data-loading workers fall back to the main process when a fork-unsafe runtime is loaded."""
import os
import sys
import types

from segctl_tasks_segment.engine_setup import default_workers


def test_workers_capped_and_fork_unsafe_runtime(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    monkeypatch.delitem(sys.modules, "paddle", raising=False)
    assert default_workers({"workers": 1}) == 1
    assert default_workers({"workers": 10_000}) == (os.cpu_count() or 1)  # capped at the CPU count
    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    assert default_workers({"workers": 2}) == 0
