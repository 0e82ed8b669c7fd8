"""A model object loads once: ``YOLO(path)`` reads the checkpoint once, and predict/val/info/export
on it reuse what was built; the predictor is rebuilt only when a key that needs it changes.
Streams read ahead in a thread and report FPS. (``backend=torch`` keeps these tests about reuse;
the compiled path has its own tests in test_fastpath.py.)"""
from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

import segctl.nn.checkpoint as checkpoint_module
from segctl import YOLO


@pytest.fixture
def reads(monkeypatch):
    """Counts checkpoint reads: a spy that calls the real loader."""
    calls: list[str] = []
    real = checkpoint_module.load_checkpoint

    def spy(path, *a, **kw):
        calls.append(str(path))
        return real(path, *a, **kw)

    monkeypatch.setattr(checkpoint_module, "load_checkpoint", spy)
    return calls


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(d / f"im{i}.jpg"), rng.integers(0, 255, (72, 96, 3), dtype=np.uint8))
    return d


def test_ten_calls_read_the_checkpoint_once(tiny_ckpt, images, reads):
    model = YOLO(str(tiny_ckpt))
    frame = cv2.imread(str(images / "im0.jpg"))
    first = None
    for i in range(10):
        r = model(frame, imgsz=64, conf=0.001 if i % 2 else 0.01, verbose=False, backend="torch")[0]
        first = first or model._predictor
        assert model._predictor is first  # kept: conf changes do not rebuild
    assert reads == [str(tiny_ckpt)]
    assert r.boxes.data.shape[1] == 6
    model.info()  # the module built for predict serves info and export too
    out = model.export(format="onnx", imgsz=64, verify="off")
    assert reads == [str(tiny_ckpt)]
    assert out == str(tiny_ckpt.with_suffix(".onnx"))  # named after the checkpoint, beside it


def test_an_exported_artifact_keeps_its_predictor(tiny_ckpt, images, tmp_path):
    from segctl.export import export
    from segctl.session import Session

    onnx = export(str(tiny_ckpt), Session.create(), format="onnx", imgsz=64, dynamic=True, verify="off",
                  output=str(tmp_path / "m.onnx"))
    model = YOLO(str(onnx))
    model(str(images / "im0.jpg"), imgsz=64, verbose=False)
    p = model._predictor
    for i in range(3):
        model(str(images / f"im{i}.jpg"), imgsz=64, conf=0.1 * i, verbose=False)
    assert model._predictor is p and type(p.backend).__name__ == "OnnxBackend"
    assert model.names == p.names


def test_per_call_keys_apply_without_rebuild(tiny_ckpt, images):
    model = YOLO(str(tiny_ckpt))
    src = str(images / "im1.jpg")
    many = model(src, imgsz=64, conf=0.0001, max_det=50, verbose=False, backend="torch")[0]
    p = model._predictor
    few = model(src, imgsz=64, conf=0.0001, max_det=3, verbose=False, backend="torch")[0]
    only0 = model(src, imgsz=64, conf=0.0001, classes=[0], verbose=False, backend="torch")[0]
    assert model._predictor is p
    assert len(many) > 3 and len(few) == 3
    assert set(only0.boxes.cls.tolist()) <= {0.0}


def test_rebuild_on_backend_device_or_weights_change(tiny_ckpt, images, tmp_path):
    model = YOLO(str(tiny_ckpt))
    src = str(images / "im0.jpg")
    model(src, imgsz=64, verbose=False, backend="torch")
    p = model._predictor
    model(src, imgsz=64, verbose=False, backend="torch", half=True)  # half: a new backend
    assert model._predictor is not p
    p = model._predictor
    model.load(str(tiny_ckpt))  # weights changed in memory: the old predictor is dropped
    assert model._predictor is None
    model(src, imgsz=64, verbose=False, backend="torch")
    assert model._predictor is not p


def test_repeated_saves_go_to_one_run_folder(tiny_ckpt, images, tmp_path):
    model = YOLO(str(tiny_ckpt))
    for i in range(2):
        model(str(images / f"im{i}.jpg"), imgsz=64, verbose=False, backend="torch", save=True,
              project=str(tmp_path), name="p")
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["im0.jpg", "im1.jpg"]
    model(str(images / "im2.jpg"), imgsz=64, verbose=False, backend="torch", save=True, project=str(tmp_path),
          name="q")
    assert (tmp_path / "q" / "im2.jpg").is_file()


def test_val_reuses_the_loaded_checkpoint(tiny_ckpt, shapes_data, reads, tmp_path):
    model = YOLO(str(tiny_ckpt))
    model.val(data=shapes_data, imgsz=64, batch=4, plots=False, verbose=False, backend="torch", workers=0,
              project=str(tmp_path))
    model.val(data=shapes_data, imgsz=64, batch=4, plots=False, verbose=False, backend="torch", workers=0,
              project=str(tmp_path))
    assert reads == [str(tiny_ckpt)]


def _video(path, n=12, size=(96, 72)):
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    for i in range(n):
        im = np.full((size[1], size[0], 3), 40, np.uint8)
        cv2.circle(im, (10 + 5 * i, 36), 9, (0, 200, 255), -1)
        vw.write(im)
    vw.release()
    return path


def test_stream_reads_ahead_in_a_thread_and_reports_fps(tiny_ckpt, tmp_path, capsys):
    video = _video(tmp_path / "clip.mp4")
    model = YOLO(str(tiny_ckpt))
    seen_threads = set()
    n = 0
    for r in model(str(video), stream=True, imgsz=64, backend="torch", verbose=True):
        seen_threads |= {t.name for t in threading.enumerate()}
        n += 1
        assert r.orig_shape == (72, 96)
    assert n == 12
    assert "segctl-frame-reader" in seen_threads
    out = capsys.readouterr().out
    assert "12 frames in" in out and "FPS" in out
    assert model._predictor.fps > 0
    assert not [t for t in threading.enumerate() if t.name == "segctl-frame-reader"]


def test_breaking_out_of_a_stream_stops_the_reader(tiny_ckpt, tmp_path):
    video = _video(tmp_path / "clip.mp4", n=30)
    model = YOLO(str(tiny_ckpt))
    gen = model(str(video), stream=True, imgsz=64, backend="torch", verbose=False)
    next(gen)
    gen.close()
    for t in threading.enumerate():
        if t.name == "segctl-frame-reader":
            t.join(timeout=5)
    assert not [t for t in threading.enumerate() if t.name == "segctl-frame-reader" and t.is_alive()]


def test_reader_errors_reach_the_caller():
    from segctl_tasks_segment.sources import prefetch

    def frames():
        yield 1
        raise ValueError("decoder broke")

    got = []
    with pytest.raises(ValueError, match="decoder broke"):
        for f in prefetch(frames()):
            got.append(f)
    assert got == [1]


def test_corrupt_image_in_a_folder_is_skipped_while_reading_ahead(tiny_ckpt, images, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(2):
        (folder / f"im{i}.jpg").write_bytes((images / f"im{i}.jpg").read_bytes())
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    model = YOLO(str(tiny_ckpt))
    with pytest.warns(UserWarning, match="broken.jpg"):
        res = model(str(folder), imgsz=64, backend="torch", verbose=False)
    assert sorted(r.path.rsplit("/", 1)[-1] for r in res) == ["im0.jpg", "im1.jpg"]
