"""The segment task's runner jobs (``task.job``), run by the core's in-process reference executor:
the same answers as the local engines, inputs listed and read the way runners need (no Ray here)."""
from __future__ import annotations

import http.server
import pickle
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from segctl.errors import UsageError
from segctl.runners import check_job, run_job_here

from .conftest import base_cfg

FIX = Path(__file__).resolve().parents[4] / "tests" / "fixtures" / "ultralytics"


# ---------------------------------------------------------------------- inputs


def test_list_inputs_folder_glob_and_list_file(tmp_path):
    from segctl_tasks_segment.sources import list_inputs

    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    for name in ("b.jpg", "a.png", "notes.txt", "sub/c.jpg"):
        (d / name).write_bytes(b"x")
    assert list_inputs(d) == [str((d / n).resolve()) for n in ("a.png", "b.jpg")]
    assert list_inputs(str(d / "**" / "*.jpg")) == [str((d / n).resolve()) for n in ("b.jpg", "sub/c.jpg")]
    lst = d / "list.txt"
    lst.write_text("# inputs\nb.jpg\n\n  sub/c.jpg  \nhttps://example.invalid/x.jpg\n")
    assert list_inputs(lst) == [str((d / "b.jpg").resolve()), str((d / "sub/c.jpg").resolve()),
                                "https://example.invalid/x.jpg"]


@pytest.mark.parametrize("source, message", [
    ("missing_dir/", "does not exist"), ("rtsp://cam/1", "is a stream"), ("0", "is a stream"),
])
def test_list_inputs_refuses_what_is_not_a_finite_image_list(tmp_path, monkeypatch, source, message):
    from segctl_tasks_segment.sources import list_inputs

    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=message):
        list_inputs(source)


def test_list_inputs_refuses_videos_and_arrays(tmp_path):
    from segctl_tasks_segment.sources import list_inputs

    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "clip.mp4").write_bytes(b"x")
    with pytest.raises(UsageError, match="clip.mp4 is a video"):
        list_inputs(tmp_path)
    with pytest.raises(UsageError, match="not ndarray"):
        list_inputs(np.zeros((4, 4, 3), np.uint8))


def test_read_input_reports_why_instead_of_raising(tmp_path):
    from segctl_tasks_segment.sources import read_input

    (tmp_path / "bad.jpg").write_bytes(b"not an image at all")
    (tmp_path / "empty.jpg").write_bytes(b"")
    good = FIX / "image.jpg"
    assert read_input(str(tmp_path / "bad.jpg")) == (None, "not a decodable image")
    assert read_input(str(tmp_path / "empty.jpg")) == (None, "empty file")
    assert read_input(str(tmp_path / "nope.jpg"))[1].startswith("cannot read:")
    assert read_input(str(good), max_bytes=100)[1].startswith("file too large")
    im, err = read_input(str(good))
    assert err == "" and im.ndim == 3 and im.dtype == np.uint8


def test_read_input_fetches_urls_from_a_local_server(tmp_path):
    from segctl_tasks_segment.sources import read_input

    shutil.copy(FIX / "image.jpg", tmp_path / "image.jpg")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        im, err = read_input(f"{base}/image.jpg", timeout=10)
        assert err == "" and im.shape == read_input(str(FIX / "image.jpg"))[0].shape
        im, err = read_input(f"{base}/missing.jpg", timeout=10)
        assert im is None and "404" in err
        assert read_input(f"{base}/image.jpg", max_bytes=1000)[1] == "download larger than 1000 bytes"
    finally:
        server.shutdown()


# ---------------------------------------------------------------------- jobs


def test_predict_job_rows_match_the_predictor(session, tmp_path):
    from pycocotools import mask as mask_utils

    from segctl_tasks_segment.jobs import PREDICT_COLUMNS, make_job
    from segctl_tasks_segment.predictor import SegmentPredictor

    src = tmp_path / "src"
    src.mkdir()
    for p in sorted((FIX / "images").glob("*.jpg"))[:3]:
        shutil.copy(p, src / p.name)
    (src / "zz_broken.jpg").write_bytes(b"garbage")
    cfg = base_cfg(model=str(FIX / "yolov8n-seg-shapes.pt"), source=str(src), imgsz=320, conf=0.05, batch=2,
                   output=str(tmp_path / "out"), polygons=True, save_json=True)
    job = make_job("predict", cfg, session)
    check_job(job)
    assert job.columns == PREDICT_COLUMNS and job.resumable and len(job.items) == 4
    job = pickle.loads(pickle.dumps(job))  # what a runner ships to its workers
    rows = []
    work = job.worker()
    for i, it in enumerate(job.items):
        rows += work([job.load(i, it)])[0]
    assert [r["index"] for r in rows] == [0, 1, 2, 3] and rows[3]["error"] == "not a decodable image"
    local = SegmentPredictor({**cfg, "save": False}, session)([str(src / p) for p in sorted(
        q.name for q in src.glob("0*.jpg"))])
    assert sum(len(r["scores"]) for r in rows) > 0
    for row, r in zip(rows, local):
        assert row["classes"] == r.boxes.cls.int().tolist()
        np.testing.assert_allclose(row["boxes"] or np.zeros((0, 4)), r.boxes.xyxy.numpy(), atol=0.05)
        masks = r.masks.at_orig() if len(r) else []
        for rle, m in zip(row["masks"], masks):
            got = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)
            assert (got & m).sum() / max((got | m).sum(), 1) > 0.99
    summary = job.reduce(rows, str(tmp_path / "out"))
    assert (summary.images, summary.errors) == (4, 1)
    import json

    preds = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert len(preds) == summary.detections


def test_predict_job_refuses_stream(session, tmp_path):
    from segctl_tasks_segment.jobs import make_job

    with pytest.raises(UsageError, match="stream=True"):
        make_job("predict", base_cfg(model=str(FIX / "yolov8n-seg-shapes.pt"), source=str(FIX / "images"),
                                     stream=True), session)


def test_val_job_reduces_to_the_local_validators_metrics(session, shapes_data, tmp_path):
    """The per-image step (workers) + reduction (driver) give the local validation's numbers exactly."""
    from segctl_tasks_segment.jobs import make_job
    from segctl_tasks_segment.validator import SegmentValidator

    cfg = base_cfg(model=str(FIX / "yolov8n-seg-shapes.pt"), data=shapes_data, imgsz=64, batch=2,
                   project=str(tmp_path), conf=0.001)
    local = SegmentValidator(dict(cfg), session).run()
    job = pickle.loads(pickle.dumps(make_job("val", dict(cfg), session)))
    check_job(job)
    assert len(job.items) == 2 and not job.resumable  # 4 images in batches of 2
    remote = run_job_here(job)
    for kind in ("box", "seg"):
        a, b = getattr(local, kind), getattr(remote, kind)
        assert (a.map, a.map50, a.map75) == (b.map, b.map50, b.map75)
        np.testing.assert_array_equal(a.maps, b.maps)
    np.testing.assert_array_equal(local.confusion_matrix.matrix, remote.confusion_matrix.matrix)


def test_val_job_refuses_save_json(session, shapes_data, tmp_path):
    from segctl_tasks_segment.jobs import make_job

    with pytest.raises(UsageError, match="save_json"):
        make_job("val", base_cfg(model=str(FIX / "yolov8n-seg-shapes.pt"), data=shapes_data, save_json=True,
                                 project=str(tmp_path)), session)


def test_decode_step_imports_no_torch(session, tmp_path):
    """A runner's decode tasks unpickle the job and call ``load``: that must not import torch (each
    new worker process would pay seconds and half a GB for it)."""
    import subprocess
    import sys

    from segctl_tasks_segment.jobs import make_job

    job = make_job("predict", base_cfg(model=str(FIX / "yolov8n-seg-shapes.pt"), source=str(FIX / "images"),
                                       imgsz=320, output=str(tmp_path / "out")), session)
    (tmp_path / "job.pkl").write_bytes(pickle.dumps(job))
    code = ("import pickle, sys; job = pickle.load(open(sys.argv[1], 'rb')); p = job.load(0, job.items[0]); "
            "assert p['error'] is None and p['image'].shape == (320, 320, 3), p; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "job.pkl")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
