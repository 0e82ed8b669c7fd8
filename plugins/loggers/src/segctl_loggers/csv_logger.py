"""``results.csv``: one row per epoch. Written atomically (whole file) so a crash mid-write never
leaves a torn row, and the header grows if a later epoch reports a new column."""
from __future__ import annotations

import csv
import io
import os

from segctl.io import atomic_write_text


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def append_row(path: str, row: dict) -> None:
    rows: list[dict] = []
    header: list[str] = []
    if os.path.exists(path):
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            rows = [dict(r) for r in reader]
    for k in row:
        if k not in header:
            header.append(k)
    rows.append({k: _fmt(v) for k, v in row.items()})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, restval="")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def read_rows(path: str) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return [dict(r) for r in csv.DictReader(f)]
