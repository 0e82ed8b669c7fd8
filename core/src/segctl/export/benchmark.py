"""``segctl benchmark``: export to every available format, verify, validate and time each one.

Why one table: choosing a deployment format is a trade of size, speed and accuracy, and the
numbers are only comparable when measured in the same run on the same machine. A format whose
plugin is installed but whose runtime is missing is listed with its install command; a format
that fails to export, verify or validate gets its own error in its row and the run goes on.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from ..errors import SegctlError, UsageError
from .chain import registered
from .environments import interpreter_for

COLUMNS = ("format", "status", "size_mb", "mask_map50_95", "box_map50_95", "ms_per_image", "bare_ms", "max_abs_diff",
           "path", "error")


def _size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return round(sum(p.stat().st_size for p in files) / 1e6, 2)


def _time(backend: Any, imgsz: list[int], runs: int) -> tuple[float, float | None]:
    """``(ms per image through segctl's backend, ms of the bare runtime call)``: medians of ``runs``
    batch-1 calls on the same input, interleaved (so load on the machine hits both alike), after
    three warm-up calls each. The bare call is the backend's :meth:`~.backends.Backend.native`
    (``None`` where the backend does not expose one)."""
    import torch

    x = torch.rand((1, 3, *imgsz), generator=torch.Generator().manual_seed(0))
    if str(getattr(backend, "device", "cpu")).startswith("cuda"):
        x = x.to(backend.device)
    native = backend.native(x) if callable(getattr(backend, "native", None)) else None
    for _ in range(3):
        backend(x)
        if native is not None:
            native()
    wrapped, bare = [], []
    for _ in range(max(1, runs)):
        t0 = time.perf_counter()
        backend(x)
        wrapped.append((time.perf_counter() - t0) * 1000)
        if native is not None:
            t0 = time.perf_counter()
            native()
            bare.append((time.perf_counter() - t0) * 1000)
    med = lambda v: round(sorted(v)[len(v) // 2], 2)  # noqa: E731
    return med(wrapped), (med(bare) if bare else None)


def _val(path: Path, data: Any, imgsz: int, device: str, session: Any) -> tuple[float | None, float | None]:
    from ..model import Model

    # a checkpoint's row is PyTorch's: never the compiled fast path (backend=auto) of the task
    extra = {"backend": "torch"} if path.suffix in (".pt", ".pth", ".safetensors") else {}
    metrics = Model(str(path), session=session).val(data=data, imgsz=imgsz, device=device, batch=1, plots=False,
                                                    **extra)
    seg, box = getattr(metrics, "seg", None), getattr(metrics, "box", None)
    return (round(float(seg.map) * 100, 2) if seg is not None else None,
            round(float(box.map) * 100, 2) if box is not None else None)


def benchmark(model: str | Path, data: Any = None, imgsz: int = 640, session: Any = None, formats=None, *,
              device: str = "cpu", half: bool = False, int8: bool = False, runs: int = 10,
              csv_path: str | Path | None = None, show: bool = True, isolate: bool = True) -> list[dict]:
    """Benchmark ``model`` (a ``.pt``) in PyTorch and every registered export format.

    :param formats: names to include (default: all registered).
    :param data: dataset for val (skipped when ``None``).
    :param int8: also benchmark an int8 variant (row ``<format> int8``, file ``<stem>_int8<suffix>``)
        of every format with an ``int8`` option, calibrated on ``data`` — so an int8 model's size
        and mask mAP sit next to its float one.
    :param isolate: run each format in a child process, so a runtime that crashes the interpreter
        (native libraries of different formats do not always coexist in one process) costs only
        its own row. A format set to run in another environment (``SEGCTL_PYTHON_<FORMAT>`` or
        ``formats.yaml``, see :mod:`.environments`) gets its row from that environment's Python.
    :return: one dict per format with :data:`COLUMNS`; also printed as a table and saved as CSV
        (``csv_path``, default ``<model dir>/<stem>_benchmark.csv``).
    """
    from ..session import Session
    from .backends import load_backend
    from .run import export

    session = session or Session.create()
    model = Path(model)
    if not model.is_file():
        raise UsageError(f"benchmark needs a model file; {model} not found", hint="segctl benchmark model=best.pt data=...")
    specs = sorted(registered(session, "exporters"), key=lambda s: s.name)
    if formats:
        wanted = {f.strip().lower() for f in ([formats] if isinstance(formats, str) else formats) for f in f.split(",")}
        specs = [s for s in specs if s.name in wanted or set(getattr(s, "aliases", ())) & wanted]
    rows = [_row("pytorch", model, lambda: model, data, imgsz, device, session, load_backend, runs, verify=False)]
    for spec in specs:
        python = interpreter_for(spec.name)
        if not spec.available and not python:
            rows.append({"format": spec.name, "status": "missing deps", "error": spec.install_hint()})
            continue
        args = {"format": spec.name, "imgsz": imgsz, "device": device, "verify": "warn"}
        if data is not None and "data" in spec.options:  # int8 calibration images
            args["data"] = data
        if half and "half" in spec.options:
            args["half"] = True
        variants = [(spec.name, args)]
        if int8 and data is not None and "int8" in spec.options:
            out = model.with_name(f"{model.stem}_int8{spec.suffix}")
            variants.append((f"{spec.name} int8", {**args, "half": False, "int8": True, "output": str(out)}))
        for name, a in variants:
            if isolate:
                rows.append({**_row_in_child(spec.name, model, a, data, imgsz, device, runs, python), "format": name})
            else:
                rows.append(_row(name, model, lambda a=a: export(model, session, **a), data, imgsz, device,
                                 session, load_backend, runs, verify=True))
    rows = [{c: r.get(c) for c in COLUMNS} for r in rows]
    out = Path(csv_path) if csv_path else model.with_name(model.stem + "_benchmark.csv")
    with open(out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    if show:
        _print(rows, out)
    return rows


def _child(name, model, args, data, imgsz, device, runs):
    """Entry point of the per-format child process (a fresh session: plugins load again)."""
    from ..session import Session
    from .backends import load_backend
    from .run import export

    session = Session.create()
    return _row(name, model, lambda: export(model, session, **args), data, imgsz, device, session, load_backend,
                runs, verify=True)


def _row_in_child(name, model, args, data, imgsz, device, runs, python: str | None = None) -> dict:
    """Run one format in a fresh interpreter (``python -c``; ``python`` or this one), row returned as JSON.

    A plain subprocess rather than a multiprocessing worker: TensorFlow-based runtimes were seen to
    crash inside pool workers but run normally in an ordinary process.
    """
    import json
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="segctl-bench-") as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"name": name, "model": str(model), "args": args, "data": data,
                                   "imgsz": imgsz, "device": device, "runs": runs}))
        code = "import sys; from segctl.export.benchmark import _child_main; _child_main(sys.argv[1])"
        from .environments import child_env

        proc = subprocess.run([python or sys.executable, "-c", code, str(job)], stdout=sys.stdout, stderr=sys.stderr,
                              env=child_env() if python else None)
        out = Path(tmp) / "row.json"
        if out.exists():
            return json.loads(out.read_text())
    return {"format": name, "status": "crashed",
            "error": f"the format's runtime ended the process (exit {proc.returncode}); "
                     f"run it alone: segctl benchmark formats={name}"}


def _child_main(job_path: str) -> None:
    import json

    job = json.loads(Path(job_path).read_text())
    row = _child(job["name"], Path(job["model"]), job["args"], job["data"], job["imgsz"], job["device"],
                 job["runs"])
    Path(job_path).with_name("row.json").write_text(json.dumps(row, default=str))


def _row(name, model, make, data, imgsz, device, session, load_backend, runs, verify) -> dict:
    row: dict[str, Any] = {"format": name}
    try:
        path = Path(make())
        row.update(path=str(path), size_mb=_size_mb(path))
        backend = load_backend(path, session, device=device)
        parity = backend.metadata.get("parity") or {}
        if verify:
            row["max_abs_diff"] = parity.get("max_abs_diff")
        row["ms_per_image"], row["bare_ms"] = _time(backend, [imgsz, imgsz], runs)
        row["status"] = "ok" if parity.get("passed", True) else "not verified"
    except SegctlError as e:
        return {**row, "status": "failed", "error": e.message}
    except Exception as e:  # noqa: BLE001 - one format's failure must not stop the others
        return {**row, "status": "failed", "error": f"{type(e).__name__}: {e}"}
    if data is not None:
        try:
            row["mask_map50_95"], row["box_map50_95"] = _val(path, data, imgsz, device, session)
        except Exception as e:  # noqa: BLE001 - shown in the row, the run goes on
            row["status"] = "val failed"
            row["error"] = str(getattr(e, "message", e)).splitlines()[0] if str(e) else type(e).__name__
    return row


def _print(rows: list[dict], csv_path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="segctl benchmark")
    for col in ("format", "status", "size MB", "mask mAP50-95", "ms/image", "bare ms", "max abs diff", "note"):
        table.add_column(col, overflow="fold")
    for r in rows:
        fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
        color = {"ok": "green", "missing deps": "yellow"}.get(r["status"] or "", "red")
        table.add_row(r["format"], f"[{color}]{r['status']}[/]", fmt(r["size_mb"], ".1f"), fmt(r["mask_map50_95"], ".2f"),
                      fmt(r["ms_per_image"], ".1f"), fmt(r["bare_ms"], ".1f"), fmt(r["max_abs_diff"], ".1e"),
                      r["error"] or "")
    console = Console()
    console.print(table)
    console.print(f"saved {csv_path}")


def run_benchmark_cli(session: Any, args: dict) -> list[dict]:
    """``segctl benchmark model=best.pt data=... imgsz=640 [formats=onnx,torchscript] [device=cpu] [half] [int8]``."""
    args = dict(args)
    model = args.pop("model", None)
    if not model:
        raise UsageError("benchmark needs model=PATH", hint="segctl benchmark model=best.pt data=shapes-seg imgsz=320")
    known = {"data", "imgsz", "formats", "format", "device", "half", "int8", "runs", "csv"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise UsageError(f"unknown benchmark option(s): {', '.join(unknown)}", hint=f"options: {', '.join(sorted(known))}")
    return benchmark(model, data=args.get("data"), imgsz=int(args.get("imgsz", 640)), session=session,
                     formats=args.get("formats") or args.get("format"), device=str(args.get("device", "cpu")),
                     half=bool(args.get("half", False)), int8=bool(args.get("int8", False)), runs=int(args.get("runs", 10)), csv_path=args.get("csv"))
