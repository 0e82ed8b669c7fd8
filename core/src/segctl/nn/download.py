"""Finding weights files: a local path, the weights directory, or a verified download.

Why this order and these checks: a file the user already has must never be re-fetched; a download
goes to a temp file and is renamed only after its SHA-256 matches, so an interrupted or tampered
download never sits where a good file is expected. Offline, the error says exactly where to put the
file (or how to train from the YAML instead) — segctl never retries silently or installs anything.

What a server can and cannot do (docs/security.md): only ``https`` is fetched (``http`` with
``SEGCTL_ALLOW_HTTP=1``), redirects too, at most ``MAX_REDIRECTS`` of them; an HTML page (a login or
error page served with status 200) is refused; a body larger than ``SEGCTL_MAX_DOWNLOAD_BYTES``
(default 4 GiB) is cut off and discarded. Downloads are cached under a hash of the full URL, so two
URLs ending in ``best.pt`` never share an entry, and a known checksum is re-verified on every hit.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..errors import CheckpointError, UsageError

MAX_REDIRECTS = 5
DEFAULT_MAX_BYTES = 4 << 30


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def max_download_bytes() -> int:
    try:
        return int(os.environ.get("SEGCTL_MAX_DOWNLOAD_BYTES", "") or DEFAULT_MAX_BYTES)
    except ValueError:
        return DEFAULT_MAX_BYTES


def check_url(url: str) -> None:
    """Refuse URLs segctl will not fetch: anything but https (http only with SEGCTL_ALLOW_HTTP=1)."""
    scheme = urllib.parse.urlparse(url).scheme.lower()
    if scheme == "https" or (scheme == "http" and os.environ.get("SEGCTL_ALLOW_HTTP") == "1"):
        return
    raise UsageError(f"refusing to download {url}: only https:// URLs are fetched",
                     hint="use an https URL, or set SEGCTL_ALLOW_HTTP=1 to allow plain http on a trusted network"
                     if scheme == "http" else "download the file yourself and pass its path")


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow at most MAX_REDIRECTS redirects, each to a URL :func:`check_url` accepts (no https → http
    downgrade, no file:// or ftp:// targets)."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        check_url(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def open_url(url: str, timeout: float = 30.0):
    """``urlopen`` with segctl's rules (scheme, redirects); the caller reads with :func:`copy_bounded`."""
    check_url(url)
    opener = urllib.request.build_opener(_Redirects)
    return opener.open(url, timeout=timeout)  # noqa: S310 - scheme checked above


def copy_bounded(resp, fh, url: str, max_bytes: int | None = None, on_chunk=None) -> int:
    """Copy the response body to ``fh``; refuse HTML and bodies over ``max_bytes`` (declared or real)."""
    max_bytes = max_download_bytes() if max_bytes is None else max_bytes
    ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype in ("text/html", "application/xhtml+xml"):
        raise UsageError(f"download of {url} returned an HTML page ({ctype}), not a file",
                         hint="the URL probably needs a login or points at a web page; use the direct file link")
    declared = int(resp.headers.get("Content-Length") or 0)
    if declared > max_bytes:
        raise UsageError(f"download of {url} declares {declared:,} bytes, over the {max_bytes:,}-byte limit",
                         hint="raise SEGCTL_MAX_DOWNLOAD_BYTES if you trust this file")
    n = 0
    for chunk in iter(lambda: resp.read(1 << 16), b""):
        n += len(chunk)
        if n > max_bytes:
            raise UsageError(f"download of {url} exceeded the {max_bytes:,}-byte limit; discarded",
                             hint="raise SEGCTL_MAX_DOWNLOAD_BYTES if you trust this file")
        fh.write(chunk)
        if on_chunk:
            on_chunk(len(chunk))
    if declared and n != declared:
        raise OSError(f"connection closed after {n} of {declared} bytes")
    return n


def cache_dir_for(url: str, weights_dir: str | os.PathLike) -> Path:
    """The folder a download of ``url`` is cached in: keyed by a hash of the full URL."""
    return Path(weights_dir) / ("url-" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:16])


def _verified(path: Path, sha256: str | None) -> Path:
    if sha256 and _sha256(path) != sha256.lower():
        raise CheckpointError(f"{path} does not match its known SHA-256 ({sha256[:12]}...); refused",
                              hint=f"delete {path} to download it again, or place a verified copy there")
    return path


def resolve_weights(name: str | os.PathLike, weights_dir: str | os.PathLike, url_template: str,
                    sha256: str | None = None, *, timeout: float = 30.0, progress: bool = True,
                    max_bytes: int | None = None) -> Path:
    """Return a local path for ``name``; download ``url_template`` (``{name}`` replaced) if needed.

    Order: ``name`` as a path; ``weights_dir/<name>`` (a file the user placed); the URL's cache
    entry; a fresh download. A known ``sha256`` is checked on every one of the last three."""
    p = Path(name)
    if p.is_file():
        return p
    weights_dir = Path(weights_dir)
    local = weights_dir / p.name
    if local.is_file():
        return _verified(local, sha256)
    url = url_template.replace("{name}", p.name)
    cached = cache_dir_for(url, weights_dir) / p.name
    if cached.is_file():
        return _verified(cached, sha256)
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".part", dir=cached.parent)
    tmp_path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            _fetch(url, fh, timeout, progress, p.name, max_bytes)
            fh.flush()
            os.fsync(fh.fileno())
        if sha256 and _sha256(tmp_path) != sha256.lower():
            raise CheckpointError(f"download of {p.name} from {url} failed its SHA-256 check",
                                  hint=f"the file was discarded; place a verified copy at {local}")
        os.replace(tmp_path, cached)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", None) or e
        raise UsageError(
            f"cannot download weights {p.name} from {url} ({reason})",
            hint=f"put the file at {local}, or train from scratch with model={p.stem}.yaml",
        ) from e
    finally:
        tmp_path.unlink(missing_ok=True)
        try:
            cached.parent.rmdir()  # only succeeds when the download failed and left it empty
        except OSError:
            pass
    return cached


def _fetch(url: str, fh, timeout: float, progress: bool, label: str, max_bytes: int | None = None) -> None:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with open_url(url, timeout=timeout) as resp:
        total = int(resp.headers.get("Content-Length") or 0) or None
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      disable=not progress, transient=True) as bar:
            task = bar.add_task(f"Downloading {label}", total=total)
            copy_bounded(resp, fh, url, max_bytes, on_chunk=lambda n: bar.advance(task, n))
