"""The compiled CPU fast path (``backend=auto|onnxruntime|openvino``): same predictions as PyTorch on
the reference fixture, compiled once and cached by content, corrupt cache entries rebuilt, and an
unusable cache folder (not a folder, read-only, full) a warning and PyTorch -- never a crash."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from segctl import YOLO
from segctl.errors import UsageError

from .conftest import tmpfs_runner

FIX = Path(__file__).resolve().parents[4] / "tests" / "fixtures" / "ultralytics"
CKPT = FIX / "yolov8n-seg-shapes.pt"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache folder of this test alone (for tests that damage or count entries)."""
    d = tmp_path / "cache"
    monkeypatch.setenv("SEGCTL_CACHE_DIR", str(d))
    return d


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One cache folder for the tests that only read it (the reference model compiles once)."""
    d = tmp_path_factory.mktemp("shared-cache")
    old = os.environ.get("SEGCTL_CACHE_DIR")
    os.environ["SEGCTL_CACHE_DIR"] = str(d)
    yield d
    if old is None:
        os.environ.pop("SEGCTL_CACHE_DIR", None)
    else:
        os.environ["SEGCTL_CACHE_DIR"] = old


def _entries(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "compiled").iterdir() if p.is_dir() and not p.name.startswith("."))


def _match(a, b):
    """(max box distance px, min mask IoU) between two Results with the same detections."""
    assert len(a) == len(b)
    if not len(a):
        return 0.0, 1.0
    ba, bb = a.boxes.xyxy.numpy(), b.boxes.xyxy.numpy()
    d = np.abs(ba[:, None] - bb[None]).max(-1)
    idx = d.argmin(1)
    assert sorted(idx.tolist()) == list(range(len(b)))
    assert a.boxes.cls.tolist() == b.boxes.cls[idx].tolist()
    ma, mb = a.masks.at_orig(), b.masks.at_orig()[idx]
    ious = [(x & y).sum() / max((x | y).sum(), 1) for x, y in zip(ma, mb)]
    return float(d.min(1).max()), float(min(ious))


@pytest.mark.parametrize("imgsz", [320, 640, [256, 384]])
def test_fast_path_predicts_what_pytorch_predicts(shared_cache, imgsz):
    model = YOLO(str(CKPT))
    sources = [str(FIX / "images" / f"00000{i}.jpg") for i in range(4)]
    fast = model(sources, imgsz=imgsz, conf=0.05, verbose=False)  # backend=auto, the default
    assert type(model._predictor.backend).__name__ != "TorchBackend"
    ref = model(sources, imgsz=imgsz, conf=0.05, verbose=False, backend="torch")
    assert sum(len(r) for r in ref) > 0
    for f, r in zip(fast, ref):
        dist, iou = _match(f, r)
        assert dist <= 1.0 and iou >= 0.95, (dist, iou)


def test_compiled_once_then_served_from_cache_in_another_process(shared_cache, tmp_path):
    cache = shared_cache
    model = YOLO(str(CKPT))
    model(str(FIX / "images" / "000000.jpg"), imgsz=320, verbose=False)
    entries = _entries(cache)
    assert entries and all((e / "manifest.json").is_file() for e in entries)
    stamps = {e: (e / "manifest.json").stat().st_mtime_ns for e in entries}
    copy = tmp_path / "renamed.pt"  # keyed by content, not by name
    copy.write_bytes(CKPT.read_bytes())
    code = ("from segctl import YOLO; import sys; m = YOLO(sys.argv[1]); m(sys.argv[2], imgsz=320, verbose=False); "
            "print('BACKEND', type(m._predictor.backend).__name__)")
    r = subprocess.run([sys.executable, "-c", code, str(copy), str(FIX / "images" / "000000.jpg")],
                       capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "compiling" not in r.stdout + r.stderr
    assert "BACKEND TorchBackend" not in r.stdout
    assert {e: (e / "manifest.json").stat().st_mtime_ns for e in _entries(cache)} == stamps


def test_a_different_checkpoint_gets_its_own_entry(cache, tiny_ckpt, capfd):
    YOLO(str(CKPT))(str(FIX / "images" / "000000.jpg"), imgsz=320, verbose=False, backend="onnxruntime")
    out = capfd.readouterr()
    said = (out.out + out.err).replace("\n", " ")
    assert said.count("segctl: compiling") == 1 and "verified" not in said  # one line per compile
    YOLO(str(tiny_ckpt))(str(FIX / "images" / "000000.jpg"), imgsz=64, verbose=False, backend="onnxruntime")
    assert len(_entries(cache)) == 2


def test_corrupt_cached_artifact_is_detected_and_rebuilt(cache):
    src = str(FIX / "images" / "000003.jpg")
    first = YOLO(str(CKPT))(src, imgsz=320, conf=0.05, verbose=False, backend="onnxruntime")[0]
    (entry,) = _entries(cache)
    artifact = entry / json.loads((entry / "manifest.json").read_text())["artifact"]
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: still loads, computes something else
    artifact.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="does not match its manifest"):
        again = YOLO(str(CKPT))(src, imgsz=320, conf=0.05, verbose=False, backend="onnxruntime")[0]
    dist, iou = _match(again, first)
    assert dist < 1e-3 and iou == 1.0
    rec = json.loads((entry / "manifest.json").read_text())
    from segctl_tasks_segment.fastpath import file_digest

    assert file_digest(entry / rec["artifact"]) == rec["sha256"]


def test_cache_path_that_is_not_a_folder_falls_back_to_pytorch(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("SEGCTL_CACHE_DIR", str(blocker / "cache"))
    model = YOLO(str(CKPT))
    with pytest.warns(RuntimeWarning, match="fast path is unavailable"):
        r = model(str(FIX / "images" / "000003.jpg"), imgsz=320, conf=0.05, verbose=False)[0]
    assert type(model._predictor.backend).__name__ == "TorchBackend" and len(r) > 0


@pytest.mark.parametrize("how", ["read-only", "full"])
def test_read_only_or_full_cache_falls_back_to_pytorch(tmp_path, how):
    """A real read-only mount and a real 1 MB tmpfs (the ONNX file alone is ~12 MB): a warning,
    PyTorch's predictions, exit 0, nothing half-written left in the cache."""
    mnt = tmp_path / "cache"
    mnt.mkdir()
    runner = tmpfs_runner(mnt, 1)
    if runner is None:
        pytest.skip("unprivileged mount namespaces are not allowed here (unshare failed)")
    if how == "read-only":
        runner = [a.replace("size=1m tmpfs", "size=1m,ro tmpfs") for a in runner]
    code = ("import sys, warnings; warnings.simplefilter('always'); from segctl import YOLO; m = YOLO(sys.argv[1]); "
            "r = m(sys.argv[2], imgsz=320, conf=0.05, verbose=False)[0]; "
            "print('BACKEND', type(m._predictor.backend).__name__, 'N', len(r))")
    script = (f"{sys.executable} -c \"{code}\" {CKPT} {FIX / 'images' / '000003.jpg'}; echo RC=$?; "
              f"ls -A {mnt}/compiled 2>/dev/null | grep -c . || true")
    env = dict(os.environ, SEGCTL_CACHE_DIR=str(mnt), OMP_NUM_THREADS="1")
    r = subprocess.run(runner + ["sh", "-c", script], capture_output=True, text=True, env=env, timeout=600)
    out = r.stdout + r.stderr
    assert "RC=0" in out and "BACKEND TorchBackend N 12" in out, out[-3000:]
    assert "fast path is unavailable" in out and "Traceback" not in out, out[-3000:]
    assert r.stdout.strip().splitlines()[-1] == "0", r.stdout[-1000:]  # no half-written entry left


def test_explicit_runtime_errors_are_raised_not_hidden(cache, tmp_path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"")
    with pytest.raises(UsageError, match="compiles a PyTorch checkpoint"):
        from segctl_tasks_segment.backend_choice import open_backend

        open_backend({"model": str(onnx), "backend": "onnxruntime"}, None, _cpu())
    with pytest.raises(UsageError, match="did you mean 'openvino'"):
        YOLO(str(CKPT))(np.zeros((64, 64, 3), np.uint8), backend="openvin", verbose=False)


def _cpu():
    import torch

    return torch.device("cpu")


def test_image_array_loop_uses_the_compiled_backend_once(shared_cache):
    cache = shared_cache
    model = YOLO(str(CKPT))
    frame = cv2.imread(str(FIX / "images" / "000001.jpg"))
    for _ in range(3):
        model(frame, imgsz=320, verbose=False)
    assert type(model._predictor.backend).__name__ != "TorchBackend"
    assert len(_entries(cache)) >= 1
