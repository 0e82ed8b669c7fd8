"""The compiled CPU fast path: a ``.pt`` model compiled once into ONNX Runtime or OpenVINO.

Why: on a CPU the same network runs in about half the time under ONNX Runtime as under PyTorch
eager, and a user's ``for frame in frames: model(frame)`` loop should get that without knowing it.
The model is exported with the installed export plugins (``dynamic=True``, so rectangular
letterboxing still works), the artifact is verified against PyTorch by the export parity check
(``verify="fail"``), and cached so that a second process pays nothing:

``<cache>/compiled/<sha256(checkpoint)[:32]>-<runtime>-<runtime version>-segctl<version>/``
holds the artifact and ``manifest.json`` (the artifact's own sha256, checked on every hit: a
corrupt or tampered cache entry is rebuilt, never run). ``<cache>`` is ``$SEGCTL_CACHE_DIR``, else
``$XDG_CACHE_HOME/segctl``, else ``~/.cache/segctl``. ``auto`` measures the installed runtimes once
per checkpoint and remembers the faster in ``<digest>-auto-segctl<version>.json``.

Errors are the caller's to handle: :func:`compiled_backend` raises ``OSError`` (cache folder
read-only or full), :class:`~segctl.errors.ExportError` (compile or parity failure) or
:class:`~segctl.errors.MissingDependencyError`; ``backend=auto`` turns any of them into one warning
and PyTorch (see :mod:`.backend_choice`).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Callable

#: runtime name -> (export format, distribution whose version keys the cache, artifact name)
RUNTIMES: dict[str, tuple[str, str, str]] = {
    "onnxruntime": ("onnx", "onnxruntime", "model.onnx"),
    "openvino": ("openvino", "openvino", "model_openvino_model"),
}
MANIFEST = "manifest.json"


def cache_root() -> Path:
    """The user cache directory segctl writes compiled models to (see the module docs)."""
    env = os.environ.get("SEGCTL_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "segctl"


def runtime_version(runtime: str) -> str | None:
    """Installed version of ``runtime``'s distribution, or None when it is not installed."""
    try:
        return importlib_metadata.version(RUNTIMES[runtime][1])
    except importlib_metadata.PackageNotFoundError:
        return None


def installed_runtimes() -> list[str]:
    return [r for r in RUNTIMES if runtime_version(r)]


def file_digest(path: Path) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, in sorted order)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        if f != path:
            h.update(str(f.relative_to(path)).encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _segctl_version() -> str:
    from segctl import __version__

    return str(__version__)


def entry_dir(digest: str, runtime: str) -> Path:
    ver = runtime_version(runtime)
    return cache_root() / "compiled" / f"{digest[:32]}-{runtime}-{ver}-segctl{_segctl_version()}"


def _cached_artifact(folder: Path) -> Path | None:
    """The artifact of a complete, intact cache entry; None when there is none. A manifest that
    does not match its artifact (corrupt, truncated, tampered) is reported and the entry removed."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return None
    import warnings

    try:
        rec = json.loads(manifest.read_text(encoding="utf-8"))
        artifact = folder / str(rec["artifact"])
        if artifact.resolve().parent != folder.resolve():
            raise ValueError("artifact outside its cache folder")
        if artifact.exists() and file_digest(artifact) == rec["sha256"]:
            return artifact
    except (OSError, ValueError, KeyError, TypeError) as e:
        warnings.warn(f"compiled-model cache entry {folder} is unreadable ({e}); rebuilding it", RuntimeWarning,
                      stacklevel=3)
    else:
        warnings.warn(f"compiled-model cache entry {folder} does not match its manifest (corrupt or modified); "
                      "rebuilding it", RuntimeWarning, stacklevel=3)
    shutil.rmtree(folder, ignore_errors=True)
    return None


def _compile(source: Path, module: Any, runtime: str, folder: Path, session: Any, imgsz: int) -> Path:
    """Export into a temporary folder next to ``folder``, write the manifest, then rename the folder
    into place (a killed compile leaves no half entry; two processes racing both end with one)."""
    from segctl.export import export

    from . import progress

    fmt, _, name = RUNTIMES[runtime]
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".compiling-", dir=folder.parent))
    try:
        progress.console().print(f"segctl: compiling {source.name} for {runtime} {runtime_version(runtime)} "
                                 f"(once; cached in {folder})")
        quiet = io.StringIO()  # the line above is the compile's one line (export's own report goes here)
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            out = export(module if module is not None else str(source), session, format=fmt, dynamic=True,
                         imgsz=imgsz, verify="fail", output=str(tmp / name))
        out = Path(out)
        rec = {"artifact": out.name, "sha256": file_digest(out), "source": str(source), "runtime": runtime,
               "runtime_version": runtime_version(runtime), "segctl": _segctl_version(), "created": time.time()}
        with open(tmp / MANIFEST, "w", encoding="utf-8") as fh:
            json.dump(rec, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.replace(tmp, folder)
        except OSError:
            if _cached_artifact(folder) is None:  # not another process's complete entry: a real error
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder / name


def compiled_backend(source: str | Path, session: Any, runtime: str, module: Callable[[], Any] | None = None,
                     imgsz: int = 640, digest: str | None = None) -> Any:
    """A backend running ``source`` (a ``.pt``) under ``runtime``, compiled on the first call.

    ``module`` returns the already-built ``nn.Module`` of ``source`` (so a compile does not read
    the checkpoint again); called only on a cache miss."""
    from segctl.errors import MissingDependencyError, UsageError
    from segctl.export import load_backend

    if runtime not in RUNTIMES:
        raise UsageError(f"unknown compiled runtime {runtime!r}", hint=f"one of: {', '.join(RUNTIMES)}")
    if runtime_version(runtime) is None:
        hint = {"onnxruntime": "pip install onnxruntime", "openvino": 'pip install openvino  # or: pip install "segctl[openvino]"'}
        raise MissingDependencyError(f"backend={runtime} needs {RUNTIMES[runtime][1]}, which is not installed",
                                     hint=hint[runtime])
    source = Path(source)
    digest = digest or file_digest(source)
    folder = entry_dir(digest, runtime)
    artifact = _cached_artifact(folder)
    if artifact is None:
        artifact = _compile(source, module() if module else None, runtime, folder, session, imgsz)
    return load_backend(str(artifact), session, device="cpu")


def _time_backend(backend: Any, imgsz: int, runs: int = 3) -> float:
    """Median seconds of ``runs`` forward passes on a zero image (after one warm-up)."""
    import torch

    x = torch.zeros(1, 3, imgsz, imgsz)
    backend(x)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        backend(x)
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def auto_backend(source: str | Path, session: Any, module: Callable[[], Any] | None = None,
                 imgsz: int = 640) -> tuple[Any, str]:
    """``(backend, runtime)``: the fastest installed runtime for ``source``, measured once and
    remembered per checkpoint (the choice file), then served from the cache."""
    source = Path(source)
    digest = file_digest(source)
    runtimes = installed_runtimes()
    if not runtimes:
        from segctl.errors import MissingDependencyError

        raise MissingDependencyError("no compiled runtime installed", hint="pip install onnxruntime")
    choice_file = cache_root() / "compiled" / f"{digest[:32]}-auto-segctl{_segctl_version()}.json"
    try:
        chosen = json.loads(choice_file.read_text(encoding="utf-8")).get("runtime")
    except (OSError, ValueError, AttributeError):
        chosen = None
    if chosen in runtimes:
        return compiled_backend(source, session, chosen, module, imgsz, digest), chosen
    built: dict[str, Any] = {}
    cached_module: list = []

    def once():  # build the module at most once for all runtimes
        if not cached_module:
            cached_module.append(module() if module else None)
        return cached_module[0]

    for runtime in runtimes:
        built[runtime] = compiled_backend(source, session, runtime, once if module else None, imgsz, digest)
    if len(built) == 1:
        chosen = runtimes[0]
        timings = {}
    else:
        timings = {r: _time_backend(b, min(int(imgsz), 640)) for r, b in built.items()}
        chosen = min(timings, key=timings.get)
    tmp = choice_file.with_name(f".{choice_file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"runtime": chosen, "seconds": timings}), encoding="utf-8")
    os.replace(tmp, choice_file)
    return built[chosen], chosen
