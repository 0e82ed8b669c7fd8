"""model=yolov8n-seg.pt that is not on disk: weights dir, else download (local HTTP server), else a
clear offline error."""
import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from segctl import YOLO
from segctl.errors import UsageError

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "ultralytics" / "yolov8n-seg-shapes.pt"


@pytest.fixture(autouse=True)
def _allow_http(monkeypatch):
    monkeypatch.setenv("SEGCTL_ALLOW_HTTP", "1")  # the local test server speaks plain http


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(FIXTURE, served / "yolov8n-seg.pt")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_named_weights_downloaded_once(tmp_path, monkeypatch, server):
    wdir = tmp_path / "weights"
    monkeypatch.setenv("SEGCTL_WEIGHTS_DIR", str(wdir))
    monkeypatch.setenv("SEGCTL_WEIGHTS_URL", server + "/{name}")
    monkeypatch.chdir(tmp_path)
    m = YOLO("yolov8n-seg.pt")
    src = Path(m.source)
    assert src.name == "yolov8n-seg.pt" and src.parent.parent == wdir and m.task == "segment"
    assert m.names[0] == "circle"
    (tmp_path / "served" / "yolov8n-seg.pt").unlink()  # cached (same URL): no download needed
    assert Path(YOLO("yolov8n-seg.pt").source) == src


def test_offline_error_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGCTL_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.setenv("SEGCTL_WEIGHTS_URL", "http://127.0.0.1:9/{name}")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as e:
        YOLO("yolov8s-seg.pt")
    assert str(tmp_path / "w" / "yolov8s-seg.pt") in e.value.hint and "yolov8s-seg.yaml" in e.value.hint


def test_missing_local_file_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="not found"):
        YOLO("nothere/best.pt")
