"""Predict on every kind of source with a tiny random checkpoint (64 px), and the outputs it writes."""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segctl.errors import UsageError
from segctl_tasks_segment.predictor import SegmentPredictor
from segctl_tasks_segment.sources import iter_frames

from .conftest import base_cfg


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for i in range(3):
        im = np.full((48 + 8 * i, 64, 3), 40, np.uint8)
        cv2.circle(im, (30, 24), 12, (int(rng.integers(100, 255)), 200, 50), -1)
        cv2.imwrite(str(d / f"im{i}.jpg"), im)
    (d / "broken.jpg").write_bytes(b"not an image")
    return d


@pytest.fixture(scope="module")
def predictor(tiny_ckpt, session, tmp_path_factory):
    out = tmp_path_factory.mktemp("pred")
    cfg = base_cfg(model=str(tiny_ckpt), imgsz=64, conf=0.0, max_det=5, project=str(out), name="p",
                   save=True, save_txt=True, save_conf=True, verbose=True, device="cpu")
    return SegmentPredictor(cfg, session)


def test_folder_skips_corrupt_image_and_writes_outputs(predictor, images, capsys):
    with pytest.warns(UserWarning, match="broken.jpg"):
        res = predictor(str(images))
    assert len(res) == 3
    r = res[0]
    assert r.orig_shape == (48, 64) and r.boxes.xyxy.shape[1] == 4 and len(r) <= 5
    assert r.masks is not None and r.masks.data.shape[0] == len(r)
    assert set(r.speed) == {"preprocess", "inference", "postprocess"}
    d = predictor.save_dir
    assert (d / "im0.jpg").exists() and (d / "labels" / "im0.txt").exists()
    out = capsys.readouterr().out
    assert "im1.jpg: 56x64" in out and "ms" in out


def test_in_memory_sources(predictor, images):
    bgr = cv2.imread(str(images / "im0.jpg"))
    from PIL import Image

    pil = Image.open(images / "im0.jpg")
    t = torch.from_numpy(bgr[..., ::-1].copy()).permute(2, 0, 1).float() / 255
    res = predictor([bgr, pil, t, t[None].repeat(2, 1, 1, 1)])
    assert [r.orig_shape for r in res] == [(48, 64)] * 5
    # the same pixels give the same detections whatever the container
    assert torch.allclose(torch.as_tensor(res[0].boxes.data), torch.as_tensor(res[2].boxes.data), atol=1.0)
    with pytest.raises(UsageError, match="0..1"):
        predictor(t * 255)


def test_glob_stream_and_retina_masks(tiny_ckpt, session, images):
    cfg = base_cfg(model=str(tiny_ckpt), imgsz=64, conf=0.0, max_det=3, save=False, retina_masks=True)
    p = SegmentPredictor(cfg, session)
    gen = p(str(images / "im*.jpg"), stream=True)
    assert not isinstance(gen, list)
    res = list(gen)
    assert len(res) == 3 and res[2].masks.data.shape[1:] == (64, 64)  # original size (64x64 image)


def test_video_with_stride(predictor, tmp_path):
    path = tmp_path / "clip.mp4"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(6):
        im = np.zeros((48, 64, 3), np.uint8)
        cv2.rectangle(im, (5 + i * 3, 10), (25 + i * 3, 30), (0, 255, 0), -1)
        vw.write(im)
    vw.release()
    frames = list(iter_frames(str(path), vid_stride=2))
    assert [f.frame for f in frames] == [1, 3, 5]
    predictor.cfg["vid_stride"] = 2
    res = predictor(str(path))
    predictor.cfg["vid_stride"] = 1
    assert len(res) == 3
    assert (predictor.save_dir / "clip.mp4").exists()


def test_url_source_from_local_server(predictor, images, monkeypatch):
    monkeypatch.setenv("SEGCTL_ALLOW_HTTP", "1")  # the local test server speaks plain http
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(images))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        res = predictor(f"http://127.0.0.1:{srv.server_address[1]}/im1.jpg")
    finally:
        srv.shutdown()
    assert len(res) == 1 and res[0].orig_shape == (56, 64)


def test_missing_source_is_a_usage_error(predictor, tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        predictor(str(tmp_path / "nope.jpg"))
    with pytest.raises(UsageError, match="unsupported source"):
        predictor(object())


def test_config_name_predicts_with_random_weights_and_says_so(session, images):
    """model=yolov8n-seg.yaml resolves through the registry (as in training), with a warning that the
    weights are random; an unknown configuration name is a usage error with suggestions."""
    with pytest.warns(UserWarning, match="weights are random"):
        p = SegmentPredictor(base_cfg(model="yolov8n-seg.yaml", imgsz=64, save=False), session)
        res = p(str(images / "im0.jpg"))
    assert len(res) == 1 and res[0].orig_shape == (48, 64)
    with pytest.raises(UsageError, match="did you mean"):
        SegmentPredictor(base_cfg(model="yolov8q-seg.yaml", imgsz=64, save=False), session)(str(images / "im0.jpg"))
    with pytest.raises(UsageError, match="model file not found"):
        SegmentPredictor(base_cfg(model="missing.pt", imgsz=64, save=False), session)(str(images / "im0.jpg"))


def test_show_routes_and_headless_error(predictor, images, monkeypatch):
    """Results.show(): OpenCV's window when it has a GUI, else an image viewer, else a UsageError
    that says what to do (this machine's opencv-python-headless raises cv2.error on imshow)."""
    import cv2
    from PIL import ImageShow

    r = predictor(str(images / "im0.jpg"))[0]
    shown = []
    monkeypatch.setattr(cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(cv2, "imshow", lambda title, im: shown.append((title, im.copy())))
    monkeypatch.setattr(cv2, "waitKey", lambda ms: -1)
    r.show()
    assert shown[0][0] == str(images / "im0.jpg") and np.array_equal(shown[0][1], r.plot())

    def no_gui(*a):
        raise cv2.error("The function is not implemented")

    viewed = []
    monkeypatch.setattr(cv2, "namedWindow", no_gui)
    monkeypatch.setattr(ImageShow, "show", lambda im, title=None: viewed.append(im) or 1)
    r.show()
    assert viewed and viewed[0].mode == "RGB" and np.array_equal(np.asarray(viewed[0])[..., ::-1], r.plot())

    monkeypatch.setattr(ImageShow, "show", lambda im, title=None: 0)
    with pytest.raises(UsageError, match="no GUI") as e:
        r.show()
    assert "save=True" in e.value.hint


def test_show_true_without_display_warns_once_and_predicts(tiny_ckpt, session, images, monkeypatch):
    import cv2
    from PIL import ImageShow

    def no_gui(*a):
        raise cv2.error("The function is not implemented")

    monkeypatch.setattr(cv2, "namedWindow", no_gui)
    monkeypatch.setattr(ImageShow, "show", lambda im, title=None: 0)
    p = SegmentPredictor(base_cfg(model=str(tiny_ckpt), imgsz=64, save=False, show=True), session)
    with pytest.warns(RuntimeWarning, match="show=True ignored") as rec:
        res = p([str(images / "im0.jpg"), str(images / "im1.jpg")])
    assert len(res) == 2
    assert sum("show=True ignored" in str(w.message) for w in rec) == 1
