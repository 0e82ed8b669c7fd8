"""Hostile servers: weights and sources are fetched from a local HTTP server (http.server in a
thread) that lies about sizes, streams forever, serves HTML, redirects in loops or to other schemes.
Every case ends in a clear UsageError with nothing left in the weights folder."""
from __future__ import annotations

import hashlib
import http.server
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from segctl.errors import CheckpointError, UsageError
from segctl.nn.download import resolve_weights

BODY = b"weights" * 1000


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def _send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's naming
        path = self.path.split("?")[0]
        if path.endswith("/w.pt") or path.endswith("/best.pt"):
            body = path.encode() * 10  # the body depends on the full path: two best.pt differ
            self._send(200, body, [("Content-Length", str(len(body))), ("Content-Type", "application/octet-stream")])
        elif path.endswith("/declared-huge.pt"):
            self._send(200, b"x", [("Content-Length", str(50 << 30))])
        elif path.endswith("/endless.pt"):
            self.send_response(200)
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"\0" * 65536)
            except OSError:
                pass
        elif path.endswith("/page.pt"):
            self._send(200, b"<html>login</html>", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "18")])
        elif path.endswith("/loop.pt"):
            self._send(302, headers=[("Location", self.path)])
        elif path.endswith("/to-file.pt"):
            self._send(302, headers=[("Location", "ftp://127.0.0.1/w.pt")])
        else:
            self._send(404)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("SEGCTL_ALLOW_HTTP", "1")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _leftovers(wdir: Path) -> list:
    return [p for p in wdir.rglob("*")] if wdir.exists() else []


@pytest.mark.parametrize("name, env, words", [
    ("declared-huge.pt", {}, "declares 53,687,091,200 bytes"),
    ("endless.pt", {"SEGCTL_MAX_DOWNLOAD_BYTES": str(8 << 20)}, "exceeded the 8,388,608-byte limit"),
    ("page.pt", {}, "returned an HTML page"),
    ("loop.pt", {}, "redirect"),
    ("to-file.pt", {}, "only https:// URLs are fetched"),
])
def test_hostile_server_refused_and_nothing_left(server, tmp_path, monkeypatch, name, env, words):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    wdir = tmp_path / "w"
    t = time.perf_counter()
    with pytest.raises(UsageError) as e:
        resolve_weights(name, wdir, server + "/{name}", progress=False, timeout=5)
    assert words in str(e.value), str(e.value)
    assert time.perf_counter() - t < 10
    assert _leftovers(wdir) == []


def test_plain_http_refused_unless_allowed(server, tmp_path, monkeypatch):
    monkeypatch.delenv("SEGCTL_ALLOW_HTTP")
    with pytest.raises(UsageError, match="only https:// URLs are fetched") as e:
        resolve_weights("w.pt", tmp_path / "w", server + "/{name}", progress=False)
    assert "SEGCTL_ALLOW_HTTP=1" in e.value.hint
    assert _leftovers(tmp_path / "w") == []


def test_cache_is_keyed_by_the_full_url(server, tmp_path):
    """Two URLs ending in best.pt are two cache entries (before: the second returned the first file)."""
    wdir = tmp_path / "w"
    a = resolve_weights("best.pt", wdir, server + "/runs/a/{name}", progress=False)
    b = resolve_weights("best.pt", wdir, server + "/runs/b/{name}", progress=False)
    assert a != b and a.read_bytes() != b.read_bytes() and b"/runs/b/" in b.read_bytes()


def test_braces_in_a_url_are_not_a_format_string(server, tmp_path):
    p = resolve_weights("w.pt", tmp_path / "w", server + "/x/{name}?v={1}", progress=False)
    assert p.read_bytes() == b"/x/w.pt" * 10


def test_checksum_reverified_on_every_cache_hit(server, tmp_path):
    wdir = tmp_path / "w"
    sha = hashlib.sha256(b"/w.pt" * 10).hexdigest()
    p = resolve_weights("w.pt", wdir, server + "/{name}", sha256=sha, progress=False)
    p.write_bytes(b"tampered")
    with pytest.raises(CheckpointError, match="does not match its known SHA-256"):
        resolve_weights("w.pt", wdir, server + "/{name}", sha256=sha, progress=False)


def test_predict_download_temp_folder_removed_at_exit(server, tmp_path):
    """A source URL is downloaded to a temp folder that no longer exists once the process ends."""
    code = ("import sys; from segctl_tasks_segment.sources import download; "
            f"print(download({server + '/w.pt'!r}).parent)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**__import__("os").environ, "SEGCTL_ALLOW_HTTP": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    folder = Path(out.stdout.strip().splitlines()[-1])
    assert folder.name.startswith("segctl_src_") and not folder.exists()
