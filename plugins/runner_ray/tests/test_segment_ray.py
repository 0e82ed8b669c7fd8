"""``segment predict/val runner=ray`` on a local 2-CPU Ray cluster (one per module).

What must hold: rows equal to the local predictor's, unreadable images as error rows, a run whose
inference actor is killed midway (or whose driver is killed and started again into the same
``output=``) yields every image exactly once, and val over Ray gives the local validator's box and
mask mAP. The model is the repository's fixture checkpoint (trained on the shapes set).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

FIX = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "ultralytics" / "yolov8n-seg-shapes.pt"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """The demo set's val split (32 images at 320 px); returns its data.yaml."""
    gen = pytest.importorskip("segctl_dataset_shapes.generate")
    return gen.generate(tmp_path_factory.mktemp("shapes"), n_train=1, n_val=32, imgsz=320, seed=0)


@pytest.fixture(scope="module")
def images(shapes, tmp_path_factory):
    """12 images of the set, one file of random bytes and one empty file."""
    d = tmp_path_factory.mktemp("src")
    for p in sorted((Path(shapes).parent / "images" / "val").glob("*.jpg"))[:12]:
        shutil.copy(p, d / p.name)
    (d / "broken.jpg").write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    (d / "empty.png").write_bytes(b"")
    return d


@pytest.fixture(scope="module")
def many(shapes, tmp_path_factory):
    """48 images (the 32 val images, 16 of them twice under other names) for the kill tests."""
    d = tmp_path_factory.mktemp("many")
    val = sorted((Path(shapes).parent / "images" / "val").glob("*.jpg"))
    for k, p in enumerate(val + val[:16]):
        shutil.copy(p, d / f"im{k:03d}.jpg")
    return d


def _rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [r for p in sorted(out.glob("part-*.parquet")) for r in pq.read_table(p).to_pylist()]


def _assert_exactly_once(out: Path, source: Path) -> list[dict]:
    rows = _rows(out)
    want = sorted(str(p.resolve()) for p in source.glob("*.jpg"))
    assert sorted(r["index"] for r in rows) == list(range(len(want))), "an image is missing or doubled"
    assert sorted(r["path"] for r in rows) == want
    assert all(r["error"] is None for r in rows)
    return rows


# ---------------------------------------------------------------------- predict


def test_predict_rows_match_the_local_predictor(ray_cluster, images, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pycocotools import mask as mask_utils

    from segctl import YOLO

    out = tmp_path / "out"
    summary = YOLO(str(FIX)).predict(str(images), runner="ray", imgsz=320, batch=4, workers=2, output=str(out),
                                     shard_size=5, polygons=True, conf=0.05)
    assert (summary.images, summary.errors) == (14, 2) and len(summary.files) == 3
    schema = pq.read_schema(out / "part-000000.parquet")
    assert schema.field("masks").type == pa.list_(pa.struct([("size", pa.list_(pa.int32())), ("counts", pa.string())]))
    assert schema.field("boxes").type == pa.list_(pa.list_(pa.float32())) and schema.field("error").type == pa.string()
    rows = {Path(r["path"]).name: r for r in _rows(out)}
    assert rows["broken.jpg"]["error"] == "not a decodable image" and rows["empty.png"]["error"] == "empty file"
    assert rows["broken.jpg"]["width"] is None and rows["broken.jpg"]["boxes"] == []

    with pytest.warns(UserWarning, match="unreadable"):
        local = YOLO(str(FIX)).predict(str(images), imgsz=320, conf=0.05)
    assert len(local) == 12
    n_dets = 0
    for r in local:
        row = rows[Path(r.path).name]
        assert (row["width"], row["height"]) == (r.orig_shape[1], r.orig_shape[0])
        cls = r.boxes.cls.int().tolist()
        assert row["classes"] == cls and row["class_names"] == [r.names[c] for c in cls]
        np.testing.assert_allclose(row["boxes"] or np.zeros((0, 4)), r.boxes.xyxy.numpy(), atol=0.05)
        np.testing.assert_allclose(row["scores"], r.boxes.conf.numpy(), atol=1e-4)
        want = r.masks.at_orig() if len(r) else np.zeros((0,) + r.orig_shape, bool)
        for k, rle in enumerate(row["masks"]):
            got = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)
            inter, union = (got & want[k]).sum(), (got | want[k]).sum()
            assert union == 0 or inter / union > 0.99
        assert len(row["polygons"]) == len(cls) and all(len(p) % 2 == 0 and len(p) >= 6 for p in row["polygons"])
        n_dets += len(cls)
    assert n_dets > 10  # the fixture model finds shapes: the comparison above compared something


def test_rerun_into_another_jobs_output_is_refused(ray_cluster, images, tmp_path):
    from segctl import YOLO
    from segctl.errors import UsageError

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    for p in sorted(images.glob("*.jpg"))[:2]:
        shutil.copy(p, src / p.name)
    YOLO(str(FIX)).predict(str(src), runner="ray", imgsz=320, output=str(out), workers=1, verbose=False)
    with pytest.raises(UsageError, match=r"holds the results of another run \(differs in: fingerprint\)"):
        YOLO(str(FIX)).predict(str(src), runner="ray", imgsz=320, output=str(out), conf=0.5, verbose=False)
    (src / "extra.jpg").write_bytes((src / sorted(p.name for p in src.iterdir())[0]).read_bytes())
    with pytest.raises(UsageError, match=r"differs in: items, items_sha256"):
        YOLO(str(FIX)).predict(str(src), runner="ray", imgsz=320, output=str(out), verbose=False)


def test_cli_predict_on_ray_writes_jsonl_images_and_coco_json(ray_cluster, images, tmp_path, segctl_cli):
    import json

    out = tmp_path / "cli"
    code, stdout, _ = segctl_cli("segment", "predict", f"model={FIX}", f"source={images}", "runner=ray",
                                 f"ray_address={ray_cluster}", f"output={out}", "output_format=jsonl", "save=True",
                                 "save_json=True", "imgsz=320", "workers=1")
    assert code == 0 and "14 images (2 unreadable" in stdout
    rows = [json.loads(line) for p in sorted(out.glob("part-*.jsonl")) for line in p.read_text().splitlines()]
    assert len(rows) == 14 and len(list((out / "images").glob("*.jpg"))) == 12
    preds = json.loads((out / "predictions.json").read_text())
    assert len(preds) == sum(len(r["scores"]) for r in rows) > 0
    assert set(preds[0]) == {"image_id", "category_id", "bbox", "score", "segmentation"}


def test_unknown_runner_gets_did_you_mean(images, segctl_cli):
    code, out, err = segctl_cli("segment", "predict", f"model={FIX}", f"source={images}", "runner=rya")
    assert code == 2 and "unknown runner 'rya', did you mean 'ray'?" in out + err


# ---------------------------------------------------------------------- exactly once under failures


def _workstep_pids() -> list[int]:
    """Inference actor processes of *this* test's cluster (children of its raylet)."""
    import ray

    session = ray._private.worker._global_node.get_session_dir_path()
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "MapBatches(_WorkStep)" not in cmd:
                continue
            ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            parent = Path(f"/proc/{ppid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if session in parent:
            out.append(int(p.name))
    return out


@pytest.mark.slow
def test_killed_worker_mid_run_still_gives_every_image_exactly_once(ray_cluster, many, tmp_path):
    from segctl import YOLO

    out = tmp_path / "out"
    killed: list[int] = []
    parts_at_kill: list[int] = []
    stop = threading.Event()

    def killer():
        while not stop.is_set():
            if list(out.glob("part-*.parquet")):
                pids = _workstep_pids()
                if pids:
                    parts_at_kill.append(len(list(out.glob("part-*.parquet"))))
                    for pid in pids:
                        os.kill(pid, signal.SIGKILL)
                    killed.extend(pids)
                    return
            time.sleep(0.05)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        YOLO(str(FIX)).predict(str(many), runner="ray", imgsz=320, batch=4, workers=1, output=str(out), shard_size=4,
                               verbose=False)
    finally:
        stop.set()
        t.join(5)
    assert killed, "no inference actor was killed: the test proved nothing"
    assert parts_at_kill[0] < 12, "the run had finished before the kill"
    _assert_exactly_once(out, many)


@pytest.mark.slow
def test_killed_driver_then_rerun_skips_finished_shards_and_completes(ray_cluster, many, tmp_path):
    from segctl import YOLO

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "segctl", "segment", "predict", f"model={FIX}", f"source={many}", "runner=ray",
           f"ray_address={ray_cluster}", f"output={out}", "shard_size=4", "batch=4", "workers=1", "imgsz=320"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while len(list(out.glob("part-*.parquet"))) < 2:
            assert proc.poll() is None, "the driver ended before it could be killed"
            assert time.monotonic() < deadline, "no shard written in time"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait(30)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert 2 <= len(before) < 12, "the driver had finished before the kill"
    summary = YOLO(str(FIX)).predict(str(many), runner="ray", imgsz=320, batch=4, workers=1, output=str(out),
                                     shard_size=4, verbose=False)
    assert summary.images == 48 and len(summary.files) == 12
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    assert all(after[name] == t for name, t in before.items()), "a finished shard was written again"
    _assert_exactly_once(out, many)


# ---------------------------------------------------------------------- val


def test_val_on_ray_equals_the_local_validator(ray_cluster, shapes, tmp_path):
    from segctl import YOLO

    kw = dict(data=str(shapes), imgsz=320, batch=8, plots=False, workers=0, verbose=False, project=str(tmp_path))
    local = YOLO(str(FIX)).val(**kw)
    remote = YOLO(str(FIX)).val(runner="ray", **{**kw, "workers": 2})
    for kind in ("box", "seg"):
        a, b = getattr(local, kind), getattr(remote, kind)
        for attr in ("map", "map50", "map75", "mp", "mr"):
            assert abs(getattr(a, attr) - getattr(b, attr)) <= 1e-6, (kind, attr, getattr(a, attr), getattr(b, attr))
        np.testing.assert_allclose(b.maps, a.maps, atol=1e-6)
    assert local.seg.map50 > 0.05  # a real model: the equality is not of two zeros
    np.testing.assert_array_equal(remote.confusion_matrix.matrix, local.confusion_matrix.matrix)
    np.testing.assert_array_equal(remote.nt_per_class, local.nt_per_class)
