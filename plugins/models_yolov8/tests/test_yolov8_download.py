"""Weights resolution against a local HTTP server (no internet in tests)."""
from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading

import pytest

from segctl.errors import CheckpointError, UsageError
from segctl.nn import resolve_weights


@pytest.fixture(autouse=True)
def _allow_http(monkeypatch):
    monkeypatch.setenv("SEGCTL_ALLOW_HTTP", "1")  # the local test server speaks plain http


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "srv"
    root.mkdir()
    (root / "w.pt").write_bytes(b"weights" * 1000)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/{{name}}", root
    httpd.shutdown()
    httpd.server_close()


def test_download_verified_then_cached(server, tmp_path):
    url, root = server
    sha = hashlib.sha256((root / "w.pt").read_bytes()).hexdigest()
    wdir = tmp_path / "weights"
    p = resolve_weights("w.pt", wdir, url, sha256=sha, progress=False)
    assert p.name == "w.pt" and p.parent.parent == wdir and p.read_bytes() == (root / "w.pt").read_bytes()
    (root / "w.pt").unlink()  # now only the cache can answer
    assert resolve_weights("w.pt", wdir, url) == p
    assert resolve_weights(str(p), tmp_path / "elsewhere", url) == p
    assert list(wdir.rglob(".*")) == []


def test_bad_checksum_discarded(server, tmp_path):
    url, _ = server
    with pytest.raises(CheckpointError, match="SHA-256"):
        resolve_weights("w.pt", tmp_path / "w", url, sha256="0" * 64, progress=False)
    assert list((tmp_path / "w").iterdir()) == []


def test_missing_and_offline_say_where_to_put_the_file(server, tmp_path):
    url, _ = server
    with pytest.raises(UsageError, match="cannot download weights nope.pt") as e:
        resolve_weights("nope.pt", tmp_path / "w", url, progress=False)
    assert str(tmp_path / "w" / "nope.pt") in e.value.hint and "nope.yaml" in e.value.hint
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(UsageError, match="cannot download weights yolov8n-seg.pt"):
        resolve_weights("yolov8n-seg.pt", tmp_path / "w", f"http://127.0.0.1:{port}/{{name}}", timeout=5)
    assert list((tmp_path / "w").iterdir()) == []
