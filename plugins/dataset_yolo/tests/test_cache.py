"""Label cache: content-hash invalidation, per-split files, poisoned cache (tests 12, 20, 21)."""
from __future__ import annotations

import json
import logging
import os
import pickle

import pytest

import segctl_dataset_yolo.format as fmt
from segctl.errors import DataError
from segctl_dataset_yolo.drop import check_drop_ratio

SQUARE = "0 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75"


def _cache_files(ds):
    return sorted(p.name for p in (ds.root / "labels").glob("*.segctl-cache.json"))


def _count_verifies(monkeypatch):
    calls = []
    real = fmt.verify_one

    def spy(*a, **k):
        calls.append(a[0])
        return real(*a, **k)

    monkeypatch.setattr(fmt, "verify_one", spy)
    return calls


def test_cache_hit_and_content_hash(ds, monkeypatch):
    ds.add("a")
    ds.add("b")
    first = ds.load(workers=0)
    assert _cache_files(ds) == ["train.segctl-cache.json"]
    calls = _count_verifies(monkeypatch)
    again = ds.load(workers=0)
    assert calls == [] and len(again) == 2
    assert again.records[0]["segments"][0].dtype == first.records[0]["segments"][0].dtype
    assert (again.records[0]["segments"][0] == first.records[0]["segments"][0]).all()
    # same size, same mtime, different content -> still invalidated
    lb = ds.label("a")
    st = os.stat(lb)
    lb.write_text(SQUARE.replace("0 ", "1 ", 1) + "\n")
    os.utime(lb, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(lb).st_size == st.st_size
    edited = ds.load(workers=0)
    assert len(calls) == 2 and edited.records[0]["cls"].tolist() == [1]


def test_names_and_task_invalidate(ds, monkeypatch):
    ds.add("a")
    ds.load(workers=0)
    calls = _count_verifies(monkeypatch)
    ds.load(workers=0, data=ds.data(names=["a", "b", "c"]))
    assert len(calls) == 1
    ds.load(workers=0, data=ds.data(names=["a", "b", "c"]), task="detect")
    assert len(calls) == 2
    ds.load(workers=0, data=ds.data(names=["a", "b", "c"]), task="detect")
    assert len(calls) == 2


def test_splits_never_share_a_cache(ds):
    ds.add("a")
    ds.add("v", split="val")
    data = ds.data(val="images/val")
    ds.load("train", workers=0, data=data)
    ds.load("val", workers=0, data=data)
    same = ds.data(val="images/train")
    ds.load("val", workers=0, data=same)
    assert _cache_files(ds) == ["train.segctl-cache.json", "train.val.segctl-cache.json",
                                "val.segctl-cache.json"]


def test_poisoned_cache_rejected_and_rebuilt(ds, tmp_path, caplog):
    ds.add("a")
    ds.load(workers=0)
    (cache,) = (ds.root / "labels").glob("*.segctl-cache.json")
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    cache.write_bytes(pickle.dumps(Payload()))
    with caplog.at_level(logging.WARNING, logger="segctl.data"):
        idx = ds.load(workers=0)
    assert not marker.exists()
    assert "rejected" in caplog.text and len(idx) == 1
    assert json.loads(cache.read_text())["version"] == 1  # rebuilt as JSON
    # structurally wrong JSON with the right hash is rejected too
    d = json.loads(cache.read_text())
    d["records"][0]["cls"] = "oops"
    cache.write_text(json.dumps(d))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="segctl.data"):
        assert len(ds.load(workers=0)) == 1
    assert "rejected" in caplog.text


def test_read_only_folder_still_loads(ds, monkeypatch, caplog):
    ds.add("a")
    monkeypatch.setattr(fmt._cache.tempfile, "mkstemp", lambda **k: (_ for _ in ()).throw(PermissionError(13, "ro")))
    with caplog.at_level(logging.WARNING, logger="segctl.data"):
        assert len(ds.load(workers=0)) == 1
    assert "cannot write label cache" in caplog.text


def test_drop_ratio(ds):
    for k in range(7):
        ds.add(f"ok{k}")
    for k in range(3):
        ds.add(f"bad{k}")
        (ds.root / "images" / "train" / f"bad{k}.jpg").write_bytes(b"")
    ds.add("bg", label=None)  # background is not a drop
    idx = ds.load(workers=0)
    with pytest.raises(DataError) as e:
        check_drop_ratio(idx.report, 0.2)
    msg = str(e.value)
    assert "3 of 11 images (27%)" in msg and "empty image file  3" in msg and "bad0.jpg" in msg
    assert e.value.hint
    assert check_drop_ratio(idx.report, max_drop_ratio=0.5) == pytest.approx(3 / 11)
