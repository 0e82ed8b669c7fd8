"""The results folder of a resumable job: deterministic shard files, a manifest, exactly-once rows.

Why shards written by the driver: items are cut into fixed shards (``shard_size`` consecutive
items of the job's stable item list), and a shard's file ``part-NNNNNN.<parquet|jsonl>`` is written
once, atomically (temporary file, fsync, rename), when every one of its items has its row. So a
file either holds exactly its shard's rows or does not exist: after a crash of the driver or of any
worker, a rerun into the same folder skips the shards present and redoes the rest, and a row
delivered twice (a retried task) is kept once. ``_segctl_run.json`` pins what the folder holds (the
job's fingerprint, the item list's hash, shard size, format): a rerun of another job is refused
rather than mixing outputs.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from segctl.errors import UsageError
from segctl.io import atomic_write_bytes, atomic_write_text, clean_stale_temps
from segctl.runners import parse_column_type

MANIFEST = "_segctl_run.json"
SUFFIX = {"parquet": ".parquet", "jsonl": ".jsonl"}


def arrow_type(t: Any):
    """A parsed column type (:func:`segctl.runners.parse_column_type`) → a pyarrow type."""
    import pyarrow as pa

    if isinstance(t, str):
        return {"string": pa.string(), "bool": pa.bool_(), "int32": pa.int32(), "int64": pa.int64(),
                "float32": pa.float32(), "float64": pa.float64()}[t]
    if t[0] == "list":
        return pa.list_(arrow_type(t[1]))
    return pa.struct([(name, arrow_type(ft)) for name, ft in t[1]])


def arrow_schema(columns: dict, extra: dict | None = None):
    import pyarrow as pa

    fields = [(name, arrow_type(parse_column_type(t))) for name, t in columns.items()]
    return pa.schema(fields + list((extra or {}).items()))


class OutputStore:
    """Shard files of one job in ``folder``; see the module docs."""

    def __init__(self, folder: str | Path, columns: dict, n_items: int, digest: str, fingerprint: dict,
                 fmt: str = "parquet", shard_size: int = 256):
        if fmt not in SUFFIX:
            raise UsageError(f"output_format={fmt!r} is not supported", hint="use parquet or jsonl")
        self.folder = Path(folder)
        self.columns, self.n, self.fmt = dict(columns), int(n_items), fmt
        self.shard_size = max(int(shard_size), 1)
        self.manifest = {"format_version": 1, "items": self.n, "items_sha256": digest, "shard_size": self.shard_size,
                         "output_format": fmt, "columns": self.columns, "fingerprint": fingerprint}
        self.n_shards = -(-self.n // self.shard_size)
        self.schema = arrow_schema(self.columns)
        self.done: set[int] = set()
        self._buf: dict[int, dict[int, dict]] = {}
        self.written = 0  # shard files written by this run

    # ------------------------------------------------------------------ set-up
    def open(self) -> "OutputStore":
        """Create the folder or check that it holds this very job; find the finished shards."""
        self.folder.mkdir(parents=True, exist_ok=True)
        clean_stale_temps(self.folder)
        path = self.folder / MANIFEST
        if path.exists():
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise UsageError(f"{path} is unreadable ({e})", hint="use another output= folder") from e
            differ = [k for k in self.manifest if k != "complete" and _canon(old.get(k)) != _canon(self.manifest[k])]
            if differ:
                raise UsageError(f"output={self.folder} holds the results of another run (differs in: "
                                 f"{', '.join(differ)}); segctl will not mix them",
                                 hint="give a new output= folder, or delete this one to start over")
        else:
            atomic_write_text(path, json.dumps({**self.manifest, "complete": False}, indent=1))
        for s in range(self.n_shards):
            if self._complete_on_disk(s):
                self.done.add(s)
        return self

    def _complete_on_disk(self, s: int) -> bool:
        p = self.path(s)
        if not p.exists():
            return False
        try:
            return self._rows_in(p) == self.expected(s)
        except Exception:  # noqa: BLE001 - an unreadable file is redone, never trusted
            return False

    def _rows_in(self, p: Path) -> int:
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(p).metadata.num_rows
        with open(p, "rb") as f:
            return sum(1 for _ in f)

    # ------------------------------------------------------------------ shards
    def path(self, s: int) -> Path:
        return self.folder / f"part-{s:06d}{SUFFIX[self.fmt]}"

    def expected(self, s: int) -> int:
        return min(self.shard_size, self.n - s * self.shard_size)

    def pending(self) -> list[int]:
        """Item indices of the shards not yet on disk."""
        return [i for s in range(self.n_shards) if s not in self.done
                for i in range(s * self.shard_size, s * self.shard_size + self.expected(s))]

    def add(self, i: int, row: dict) -> bool:
        """Keep item ``i``'s row (the first delivery wins); write its shard when complete.
        Returns whether the row was new."""
        s = i // self.shard_size
        if s in self.done:
            return False
        buf = self._buf.setdefault(s, {})
        if i in buf:
            return False
        buf[i] = row
        if len(buf) == self.expected(s):
            self._write(s, [buf[k] for k in sorted(buf)])
            del self._buf[s]
            self.done.add(s)
        return True

    def _write(self, s: int, rows: list[dict]) -> None:
        if self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            sink = pa.BufferOutputStream()
            pq.write_table(pa.Table.from_pylist(rows, schema=self.schema), sink, compression="zstd")
            data = sink.getvalue().to_pybytes()
        else:
            data = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in rows).encode("utf-8")
        atomic_write_bytes(self.path(s), data)
        self.written += 1

    def finish(self) -> None:
        missing = self.n_shards - len(self.done)
        if missing:
            raise RuntimeError(f"{missing} shard(s) of {self.folder} are incomplete after the run "
                               f"({sum(len(b) for b in self._buf.values())} rows still buffered)")
        atomic_write_text(self.folder / MANIFEST, json.dumps({**self.manifest, "complete": True}, indent=1))

    # ------------------------------------------------------------------ reading back
    def rows(self) -> Iterator[dict]:
        """Every row, shard by shard in item order (one shard in memory at a time)."""
        for s in range(self.n_shards):
            p = self.path(s)
            if self.fmt == "parquet":
                import pyarrow.parquet as pq

                yield from pq.read_table(p, schema=self.schema).to_pylist()
            else:
                with open(p, encoding="utf-8") as f:
                    for line in f:
                        yield json.loads(line)


def _canon(v):
    return json.loads(json.dumps(v, sort_keys=True))
