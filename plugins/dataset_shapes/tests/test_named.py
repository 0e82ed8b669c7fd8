"""The named dataset: cached generation that is atomic under races and interruptions."""
from __future__ import annotations

import functools
import threading
from pathlib import Path

import pytest
import yaml
from segctl.errors import DataError
from segctl_dataset_shapes import generate as gen_mod
from segctl_dataset_shapes import named


@pytest.fixture(autouse=True)
def tiny(monkeypatch):
    """Keep generation tiny: ensure_shapes calls generate() with the defaults."""
    monkeypatch.setattr(gen_mod, "generate", functools.partial(gen_mod.generate, n_train=3, n_val=2, imgsz=64))


def test_generates_once_into_env_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGCTL_DATASETS_DIR", str(tmp_path))
    p = Path(named.ensure_shapes())
    assert p == tmp_path / "shapes-seg" / "data.yaml"
    doc = yaml.safe_load(p.read_text())
    assert doc["path"] == str((tmp_path / "shapes-seg").resolve())  # not the temporary folder
    mtime = p.stat().st_mtime_ns
    assert Path(named.ensure_shapes()).stat().st_mtime_ns == mtime
    assert [x.name for x in tmp_path.iterdir()] == ["shapes-seg"]  # no temp folders left


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    def boom(out, **kw):
        Path(out, "images").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(gen_mod, "generate", boom)
    with pytest.raises(KeyboardInterrupt):
        named.ensure_shapes(tmp_path / "ds")
    assert list(tmp_path.iterdir()) == []


def test_concurrent_callers_get_one_complete_dataset(tmp_path):
    results, errors = [], []

    def call():
        try:
            results.append(named.ensure_shapes(tmp_path / "ds"))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1
    assert len(list((tmp_path / "ds" / "images" / "train").glob("*.jpg"))) == 3
    assert [x.name for x in tmp_path.iterdir()] == ["ds"]


def test_foreign_folder_is_not_overwritten(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "mine.txt").write_text("keep")
    with pytest.raises(DataError, match="no data.yaml"):
        named.ensure_shapes(tmp_path / "ds")
    assert (tmp_path / "ds" / "mine.txt").read_text() == "keep"


def test_empty_folder_is_filled(tmp_path):
    (tmp_path / "ds").mkdir()
    assert Path(named.ensure_shapes(tmp_path / "ds")).is_file()
