"""``model=yolo11n-seg.pt`` by name: found in the weights directory, else fetched from the configured
URL template (a local HTTP server here), then read as a YOLO11 checkpoint; other names are left to
other plugins."""
from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

from segctl_models_yolo11 import plugin

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "ultralytics"


def test_only_yolo11_names_answered(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGCTL_WEIGHTS_DIR", str(tmp_path))
    for name in ("yolov8n-seg.pt", "yolo11q-seg.pt", "sub/yolo11n-seg.pt", "https://x/yolo11n.pt"):
        assert plugin.segctl_resolve_uri(uri=name, kind="weights", session=None) is None, name
    assert plugin.segctl_resolve_uri(uri="yolo11n-seg.pt", kind="dataset", session=None) is None


def test_weights_dir_then_download(tmp_path, monkeypatch, y11_session):
    srv = tmp_path / "srv"
    srv.mkdir()
    shutil.copy(FIXTURES / "yolo11n-seg-shapes.pt", srv / "yolo11n-seg.pt")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(srv))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("SEGCTL_ALLOW_HTTP", "1")  # the local test server speaks plain http
        monkeypatch.setenv("SEGCTL_WEIGHTS_DIR", str(tmp_path / "w"))
        monkeypatch.setenv("SEGCTL_YOLO11_WEIGHTS_URL", f"http://127.0.0.1:{httpd.server_address[1]}/{{name}}")
        p = plugin.segctl_resolve_uri(uri="yolo11n-seg.pt", kind="weights", session=None)
    finally:
        httpd.shutdown()
        httpd.server_close()
    # downloads are cached per URL (<weights dir>/url-<hash>/<name>), see docs/security.md
    assert Path(p).name == "yolo11n-seg.pt" and Path(p).parent.parent == tmp_path / "w" and Path(p).is_file()
    # cached now: the server is gone and the name still resolves
    assert plugin.segctl_resolve_uri(uri="yolo11n-seg.pt", kind="weights", session=None) == p
    from segctl.nn import load_checkpoint

    assert load_checkpoint(p, session=y11_session)["yaml"]["head"][-1][2] == "Segment11"
