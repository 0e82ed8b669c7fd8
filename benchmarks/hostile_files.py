"""What refusing a hostile file costs: peak RSS over a fresh interpreter's baseline and wall time,
one crafted file per process, next to loading an honest checkpoint of the same family.

Why a process per file: ``ru_maxrss`` only grows, so one file's cost is only readable in a process
that did nothing else. The crafted files are the ones tests/security builds (docs/security.md lists
each attack and its defence); the reference row loads the YOLOv8n-seg fixture and builds its model.

Usage: python benchmarks/hostile_files.py [--only SUBSTRING]
Run it with ``PYTHONPATH=<an older checkout>/core/src`` to see what the same files cost there.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEC = ROOT / "tests" / "security"


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="run only cases whose name contains this")
    args = ap.parse_args()
    from rich.console import Console
    from rich.table import Table

    conf = _module("security_conftest", SEC / "conftest.py")
    ckpt = _module("security_checkpoints", SEC / "test_hostile_checkpoints.py")
    data = _module("security_datasets", SEC / "test_hostile_datasets.py")
    cases = {name: (build, op) for name, (build, op, _env, _kind, _words) in ckpt.CASES.items()}
    cases["image_bomb_dataset"] = (lambda d: data.png_bomb(d / "bomb.png", 11_000, 11_000), "check")
    cases["image_bomb_predict"] = (lambda d: data.png_bomb(d / "bomb.png", 11_000, 11_000), "read")
    fixture = ROOT / "tests" / "fixtures" / "ultralytics" / "yolov8n-seg-shapes.pt"
    if fixture.is_file():
        cases = {"reference: yolov8n-seg (honest)": (lambda d: fixture, "model"), **cases}
    ops = {"check": "segctl_dataset_yolo.images:check_image", "read": "segctl_tasks_segment.sources:read_image"}

    table = Table(title="Hostile files: cost of the refusal (one fresh process each)")
    for col in ("case", "file", "result", "peak RSS over baseline", "time"):
        table.add_column(col, justify="right" if col in ("file", "peak RSS over baseline", "time") else "left")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (build, op) in cases.items():
            if args.only not in name:
                continue
            d = Path(tmp) / name.replace(" ", "_").replace(":", "")
            d.mkdir()
            path = Path(build(d))
            try:
                rep = conf.run_isolated([{"name": name, "op": op, "path": str(path)}], ops=ops, timeout=300)[name]
                err = rep["error"]
                result = "accepted" if err is None else f"{err['type']}: {err['message'].split(': ', 1)[-1][:60]}"
                if op in ("check", "read") and err is None:
                    result = "skipped (header check)"
                table.add_row(name, f"{path.stat().st_size / 1e3:,.0f} KB", result, f"{rep['rss_mb']:,.1f} MB",
                              f"{rep['seconds']:.2f} s")
            except Exception as e:  # noqa: BLE001 - a crashed child is itself a finding
                table.add_row(name, f"{path.stat().st_size / 1e3:,.0f} KB", f"child failed: {str(e)[-60:]}", "-", "-")
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
