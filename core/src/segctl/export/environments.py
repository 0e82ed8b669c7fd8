"""Format environments: a format whose runtime cannot share this interpreter runs in another one.

Why: some runtimes cannot live in one environment with the others (a native library that crashes
beside another one, a conflicting pin of numpy or protobuf). Such a format names the Python of an
environment where it works, and segctl runs that format's export (with its verification), and the
forward passes of its predict and val, in that interpreter, transparently: the same CLI, the same
``Model``/``export``/``load_backend`` calls, the same errors and exit codes.

Where a format runs (first match): ``$SEGCTL_PYTHON_<FORMAT>`` (the format name
upper-cased, ``-`` as ``_``: ``SEGCTL_PYTHON_MY_FORMAT``), else the ``formats.yaml`` of the user configuration folder
(``$SEGCTL_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/segctl``, else ``~/.config/segctl``)::

    my-format: /path/to/other-venv/bin/python     # or: my-format: {python: ...}

else this interpreter. The key is the format's name, which is also its backend's name. The other
environment needs segctl and the format's plugin installed. Inside it (the children started here
carry ``SEGCTL_FORMAT_ENVIRONMENT``), every format runs locally, so nothing is delegated twice.

How: an export is one child process (``python -c ...`` with a JSON job file; an in-memory model is
saved as a segctl checkpoint first); a backend is a long-lived child serving forward passes over
its stdin/stdout (a JSON line, then ``.npy`` arrays, never pickles; the child's own prints go to
stderr). A :class:`~segctl.errors.SegctlError` raised in the child is raised again here, same class,
message and hint. The benchmark's per-format rows use the same lookup (:func:`interpreter_for`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .. import errors
from ..errors import MissingDependencyError, SegctlError, UsageError
from .backends import Backend

ENV_PREFIX = "SEGCTL_PYTHON_"
#: set in the children: there every format runs in the interpreter itself
CHILD_FLAG = "SEGCTL_FORMAT_ENVIRONMENT"
FORMATS_FILE = "formats.yaml"


def config_dir() -> Path:
    """The user configuration folder (see the module doc)."""
    if os.environ.get("SEGCTL_CONFIG_DIR"):
        return Path(os.environ["SEGCTL_CONFIG_DIR"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "segctl"


def env_var(fmt: str) -> str:
    return ENV_PREFIX + fmt.upper().replace("-", "_")


def configured() -> dict[str, str]:
    """``{format: python}`` from ``formats.yaml`` (empty when there is none); a malformed file is a
    :class:`UsageError` naming the file and the entry."""
    import yaml

    path = config_dir() / FORMATS_FILE
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise UsageError(f"{path}: not valid YAML ({e})", hint="expected lines like '<format>: /path/to/python'") from e
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of format name to interpreter",
                         hint="e.g. '<format>: /path/to/other-venv/bin/python'")
    out = {}
    for fmt, value in data.items():
        python = value.get("python") if isinstance(value, dict) else value
        if not isinstance(python, str) or not python.strip():
            raise UsageError(f"{path}: entry {fmt!r} names no interpreter",
                             hint=f"'{fmt}: /path/to/python' or '{fmt}: {{python: /path/to/python}}'")
        p = Path(python).expanduser()
        out[str(fmt).lower()] = str(p if p.is_absolute() else (path.parent / p))
    return out


def where(fmt: str) -> tuple[str | None, str]:
    """``(python or None, where it was named)`` for ``fmt``; ``None`` means this interpreter."""
    if os.environ.get(CHILD_FLAG):
        return None, "here"
    var = env_var(fmt)
    if os.environ.get(var):
        python, source = os.environ[var], var
    else:
        python, source = configured().get(fmt.lower()), str(config_dir() / FORMATS_FILE)
    if not python or os.path.abspath(python) == os.path.abspath(sys.executable):
        return None, "here"
    return python, source


def interpreter_for(fmt: str) -> str | None:
    """The Python that runs ``fmt`` when it is not this one (see the module doc), else ``None``."""
    return where(fmt)[0]


def _check_python(python: str, fmt: str, source: str) -> None:
    if not os.access(python, os.X_OK):
        raise MissingDependencyError(
            f"format {fmt!r} is set to run in {python} ({source}), which is not an executable interpreter",
            hint=f"build that environment (see docs/export-formats.md), or unset {env_var(fmt)} / "
                 f"remove '{fmt}' from {config_dir() / FORMATS_FILE}")


def child_env() -> dict[str, str]:
    return {**os.environ, CHILD_FLAG: "1"}


# ------------------------------------------------------------------ errors across the process boundary
def error_record(e: BaseException) -> dict:
    if isinstance(e, SegctlError):
        return {"class": type(e).__name__, "message": e.message, "hint": e.hint}
    return {"class": "ExportError", "message": f"{type(e).__name__}: {e}", "hint": "run with --debug in that environment"}


def raise_record(rec: dict, python: str) -> None:
    cls = getattr(errors, str(rec.get("class")), None)
    if not (isinstance(cls, type) and issubclass(cls, SegctlError)):
        cls = errors.ExportError
    raise cls(rec.get("message", "failed in another environment"), hint=rec.get("hint", "")) from None


# ------------------------------------------------------------------ availability in the other environment
def probe(python: str, fmt: str, timeout: float = 120) -> dict:
    """``{"available": bool, "missing": [...], "install": str}`` of exporter ``fmt`` in ``python``'s
    environment (its plugins loaded there, nothing heavy imported); ``{"error": ...}`` when that
    interpreter cannot run segctl."""
    code = "import sys; from segctl.export.environments import _probe_main; _probe_main(sys.argv[1])"
    try:
        proc = subprocess.run([python, "-c", code, fmt], capture_output=True, text=True, timeout=timeout,
                              env=child_env(), check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"error": f"{type(e).__name__}: {e}"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]}
    return json.loads(lines[-1])


def _probe_main(fmt: str) -> None:
    from ..session import Session

    spec = next((s for s in Session.create().registry.all("exporters") if s.name == fmt), None)
    if spec is None:
        print(json.dumps({"available": False, "missing": [f"the plugin providing {fmt!r}"], "install": ""}))
        return
    missing = spec.missing()
    print(json.dumps({"available": not missing, "missing": missing, "install": spec.install_hint() if missing else ""}))


# ------------------------------------------------------------------ export
def export_elsewhere(python: str, fmt: str, model: Any, args: dict, output: Path) -> tuple[Path, dict]:
    """Run ``export(model, format=fmt, **args)`` in ``python`` (its verification included);
    ``(artifact path, its metadata)``. The path is ``output``, computed here so both sides agree."""
    _, source = where(fmt)
    _check_python(python, fmt, source)
    found = probe(python, fmt)
    if found.get("error") or not found.get("available"):
        why = found.get("error") or f"needs {', '.join(found.get('missing', []))}, which is not installed there"
        raise MissingDependencyError(f"export format {fmt!r} runs in {python} ({source}), but {why}",
                                     hint=found.get("install") or "install segctl and the format's plugin in that environment")
    with tempfile.TemporaryDirectory(prefix="segctl-env-") as tmp:
        tmp = Path(tmp)
        if isinstance(model, (str, os.PathLike)):
            model_arg = str(Path(model).absolute()) if Path(model).exists() else str(model)
        else:  # an in-memory model travels as a segctl checkpoint (plain data, weights_only-loadable)
            from ..nn.checkpoint import make_checkpoint, save_checkpoint

            model_arg = str(save_checkpoint(make_checkpoint(model), tmp / "model.pt"))
        job = tmp / "job.json"
        job.write_text(json.dumps({"model": model_arg, "args": {**args, "format": fmt, "output": str(output)}},
                                  default=str))
        code = "import sys; from segctl.export.environments import _export_main; _export_main(sys.argv[1])"
        proc = subprocess.run([python, "-c", code, str(job)], env=child_env(), check=False)
        result = tmp / "result.json"
        if not result.is_file():
            raise errors.ExportError(f"export format {fmt!r}: the process in {python} ended without a result "
                                     f"(exit {proc.returncode})", hint="run the same export in that environment with --debug")
        rec = json.loads(result.read_text())
    if "error" in rec:
        raise_record(rec["error"], python)
    return Path(rec["path"]), rec.get("metadata") or {}


class _LastExport:
    """Keeps the metadata of the last ``segctl_on_export_end`` in the child, to send it back."""

    metadata: dict = {}

    def __init__(self):
        from .. import hookimpl

        @hookimpl
        def segctl_on_export_end(exporter, path, metadata):
            self.metadata = metadata

        self.segctl_on_export_end = segctl_on_export_end


def _export_main(job_path: str) -> None:
    from ..session import Session
    from .metadata import _plain
    from .run import export

    job = json.loads(Path(job_path).read_text())
    out = Path(job_path).with_name("result.json")
    last = _LastExport()
    try:
        path = export(job["model"], Session.create(extra=[("segctl-format-environment", last)]), **job["args"])
        out.write_text(json.dumps({"path": str(path), "metadata": _plain(dict(last.metadata))}, default=str))
    except BaseException as e:  # noqa: BLE001 - every failure travels back to the parent
        out.write_text(json.dumps({"error": error_record(e)}))
        if not isinstance(e, SegctlError):
            raise


# ------------------------------------------------------------------ backend
def _pack(arrays) -> tuple[list[int], bytes]:
    """``.npy`` bytes of ``arrays`` (no pickles) and their sizes, to send after a JSON line (``numpy``
    cannot write to or read from a pipe directly: it asks for a file position)."""
    import io

    import numpy as np

    blobs = []
    for a in arrays:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
        blobs.append(buf.getvalue())
    return [len(b) for b in blobs], b"".join(blobs)


def _unpack(fp, sizes: list[int]) -> list:
    import io

    import numpy as np

    out = []
    for n in sizes:
        blob = fp.read(int(n))
        if len(blob) != int(n):
            raise EOFError("the other process ended in the middle of an array")
        out.append(np.lib.format.read_array(io.BytesIO(blob), allow_pickle=False))
    return out


class RemoteBackend(Backend):
    """A backend living in another interpreter: same metadata and call contract as the real one
    (NCHW tensor in; ``(pred, proto)`` or the ``nms=True`` dict out, on the input's device). The
    child ends when this object is closed or collected (its stdin closes)."""

    def __init__(self, python: str, backend: str, path: str | os.PathLike, device: str = "cpu"):
        _, source = where(backend)
        _check_python(python, backend, source)
        self.python, self.path, self.device = python, Path(path), str(device)
        code = "from segctl.export.environments import _serve_main; _serve_main()"
        self._proc = subprocess.Popen([python, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      env=child_env())
        reply = self._request({"op": "load", "path": str(Path(path).absolute()), "device": self.device,
                               "backend": backend})
        from .metadata import normalise

        self.metadata = normalise(reply["metadata"])

    @property
    def file(self) -> Path:
        return self.path

    def _request(self, head: dict, arrays=()) -> dict:
        proc = self._proc
        if proc.poll() is not None:
            raise errors.ExportError(f"the backend process in {self.python} has ended (exit {proc.returncode})",
                                     hint="load the model again")
        sizes, data = _pack(arrays)
        try:
            proc.stdin.write((json.dumps({**head, "sizes": sizes}) + "\n").encode() + data)
            proc.stdin.flush()
            line = proc.stdout.readline()
            reply = json.loads(line) if line else None
            if reply is not None and "error" not in reply:
                reply["arrays"] = _unpack(proc.stdout, reply.get("sizes", []))
        except (OSError, EOFError, ValueError):
            reply = None
        if reply is None:
            self.close()
            raise errors.ExportError(f"the backend process in {self.python} ended (exit {proc.returncode}) "
                                     f"while running {self.path}", hint="run the same command in that environment with --debug")
        if "error" in reply:
            if head.get("op") == "load":
                self.close()
            raise_record(reply["error"], self.python)
        return reply

    def __call__(self, x: Any):
        import numpy as np
        import torch

        dev = x.device if isinstance(x, torch.Tensor) else torch.device("cpu")
        arr = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)
        reply = self._request({"op": "call"}, [arr])
        outs = [torch.from_numpy(a).to(dev) for a in reply["arrays"]]
        return dict(zip(reply["keys"], outs)) if reply.get("keys") else tuple(outs)

    def close(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            try:
                proc.stdin.close()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()

    def __del__(self):
        self.close()


def _serve_main() -> None:
    """The child side of :class:`RemoteBackend`: answers on the original stdout, prints go to stderr."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer
    backend = None

    def reply(head: dict, arrays=()) -> None:
        sizes, data = _pack(arrays)
        out.write((json.dumps({**head, "sizes": sizes}, default=str) + "\n").encode() + data)
        out.flush()

    while True:
        line = inp.readline()
        if not line:
            return
        head = json.loads(line)
        try:
            if head["op"] == "load":
                from ..session import Session
                from .backends import load_backend

                backend = load_backend(head["path"], Session.create(), device=head["device"], backend=head["backend"])
                from .metadata import _plain

                reply({"metadata": _plain(dict(backend.metadata))})
            else:
                import torch

                (x,) = (torch.from_numpy(a) for a in _unpack(inp, head.get("sizes", [])))
                res = backend(x)
                if isinstance(res, dict):
                    keys = list(res)
                    reply({"keys": keys}, [res[k].detach().cpu().numpy() for k in keys])
                else:
                    reply({}, [t.detach().cpu().numpy() for t in res])
        except BaseException as e:  # noqa: BLE001 - reported to the parent; a failed load ends this child
            reply({"error": error_record(e)})
            if not isinstance(e, Exception):
                raise
            if backend is None:
                return
