"""The Ray runner against the runner contract (segctl.testing.check_runner), and its spec."""
from __future__ import annotations

import json

import pytest

from segctl.session import Session
from segctl.testing import check_runner


@pytest.fixture(scope="module")
def spec():
    return Session.create().registry.get("runners", "ray")


def test_spec_is_light_and_names_its_requirements(spec):
    assert spec.plugin == "runner_ray" and spec.modes == ("predict", "val")
    assert set(spec.requires) == {"ray", "pyarrow"} and "ray[data]" in spec.install


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_ray_runner_passes_the_conformance_check(spec, ray_cluster, tmp_path, fmt):
    out = tmp_path / "out"
    rows = check_runner(spec, out, cfg={"workers": 2, "shard_size": 5, "output_format": fmt})
    assert len(rows) == 24
    files = sorted(p.name for p in out.glob("part-*"))
    assert files == [f"part-{s:06d}.{fmt}" for s in range(5)]  # 24 items / 5 per shard
    manifest = json.loads((out / "_segctl_run.json").read_text())
    assert manifest["complete"] and manifest["items"] == 24 and manifest["output_format"] == fmt
