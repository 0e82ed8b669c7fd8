"""Runners: where a task mode executes (the ``runner=`` key), and the job contract between a task
and a runner that executes it elsewhere.

Why a contract and not a Ray import: the core knows no cluster engine and no task. A runner plugin
(``segctl_register_runners``) gets the task object and asks it for a :class:`RunnerJob`: the mode
cut into independent *items* (images, batches of a validation split), a CPU ``load`` step, a
``worker`` that holds the model (made once per worker process) and a driver-side ``reduce``. The
runner decides where each step runs and must hand ``reduce`` every item's rows exactly once, however
often a step was retried. ``local`` is the built-in runner: it calls the task's mode method in this
process, as segctl always did.

Row columns are declared with Arrow's type names so a runner can write Parquet (or JSON Lines)
without knowing the task: ``string``, ``bool``, ``int32``, ``int64``, ``float32``, ``float64``,
``list<T>`` and ``struct<name: T, ...>``, nested freely.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from .errors import UsageError

SCALAR_TYPES = ("string", "bool", "int32", "int64", "float32", "float64")


@runtime_checkable
class RunnerJob(Protocol):
    """One task mode as independent items; built on the driver by ``task.job(mode, cfg, session)``.

    It is pickled and shipped to worker processes, so it holds plain data (configuration, paths,
    a dataset index), never the session. Attributes:

    - ``items``: every input, as text, in a stable order (the same inputs give the same list);
    - ``columns``: the row schema, ``{name: Arrow type name}`` (see the module docs);
    - ``batch``: items per ``worker`` call;
    - ``resumable``: each item yields exactly one row, so rows may be written to output files as
      they come and a rerun into the same output skips the items already written;
    - ``fingerprint``: JSON-able identity of the job (model hash, settings) that a rerun into the
      same output must match;
    - ``gpu``: the worker can use a GPU when the runner has one;
    - optional: ``output`` (the folder a resumable job's rows go to; else the runner's ``output``
      key) and ``unit`` (what an item is called in progress bars, e.g. ``"images"``).
    """

    items: Sequence[str]
    columns: Mapping[str, str]
    batch: int
    resumable: bool
    fingerprint: Mapping[str, Any]
    gpu: bool

    def load(self, index: int, item: str) -> Any:
        """CPU step for ``items[index]`` (read, decode, resize). Never raises for bad input: it
        returns a payload that the worker turns into a row with an error."""

    def worker(self) -> Callable[[list], list[list[dict]]]:
        """Called once per worker process (loads the model). The callable takes a list of
        payloads and returns, for each, its list of rows (dicts with the ``columns`` keys)."""

    def reduce(self, rows: Iterable[dict], output: str | None) -> Any:
        """Driver step: every row exactly once (in item order for the local executor, in any order
        elsewhere) → the mode's result. ``output`` is the folder the runner wrote rows to, if any."""


class LocalRunner:
    """The built-in runner: the task's own mode method, in this process."""

    def run(self, task: Any, mode: str, cfg: dict, session: Any) -> Any:
        return getattr(task, mode)(cfg, session)


def run_mode(session: Any, task_name: str, mode: str, cfg: dict) -> Any:
    """Run ``mode`` of ``task_name`` with the runner ``cfg["runner"]`` names (``local`` if unset).

    An unknown runner name is a usage error with a did-you-mean; a runner that cannot run this
    mode, or a task without a job for it, says so instead of falling back silently."""
    name = cfg.get("runner") or "local"
    spec = session.registry.get("runners", name)
    if spec.modes and mode not in spec.modes:
        able = [s.name for s in session.registry.all("runners") if not s.modes or mode in s.modes]
        raise UsageError(f"runner '{name}' cannot run {mode} (it runs: {', '.join(spec.modes)})",
                         hint=f"runners for {mode}: {', '.join(sorted(able))}")
    task = session.task(task_name)
    if name != "local" and not callable(getattr(task, "job", None)):
        raise UsageError(f"task '{task_name}' cannot be run by runner '{name}' (it has no job())",
                         hint="use runner=local")
    runner = spec.load()
    runner = runner() if isinstance(runner, type) else runner
    return runner.run(task, mode, cfg, session)


def run_job_here(job: RunnerJob, output: str | None = None) -> Any:
    """Execute a job sequentially in this process: the reference semantics every runner must
    reproduce (same rows, each once), used by tests and by tasks that run jobs locally."""
    work = job.worker()
    rows: list[dict] = []
    items = list(job.items)
    step = max(int(job.batch or 1), 1)
    for start in range(0, len(items), step):
        payloads = [job.load(i, items[i]) for i in range(start, min(start + step, len(items)))]
        out = work(payloads)
        if len(out) != len(payloads):
            raise ValueError(f"job worker returned {len(out)} row lists for {len(payloads)} payloads")
        for item_rows in out:
            rows.extend(item_rows)
    return job.reduce(rows, output)


def items_digest(items: Iterable[str]) -> str:
    """sha256 of the item list (what a resumed run must find unchanged)."""
    h = hashlib.sha256()
    for it in items:
        h.update(str(it).encode("utf-8", "surrogatepass"))
        h.update(b"\n")
    return h.hexdigest()


def parse_column_type(text: str) -> Any:
    """``"list<struct<size: list<int32>, counts: string>>"`` → ``("list", ("struct", (("size",
    ("list", "int32")), ("counts", "string"))))``; scalars stay strings. Raises ``ValueError``."""
    t, rest = _parse_type(text.replace(" ", ""))
    if rest:
        raise ValueError(f"column type {text!r}: unexpected {rest!r}")
    return t


def _parse_type(s: str):
    for scalar in SCALAR_TYPES:
        if s.startswith(scalar) and not s[len(scalar):len(scalar) + 1].isalnum():
            return scalar, s[len(scalar):]
    if s.startswith("list<"):
        inner, rest = _parse_type(s[5:])
        if not rest.startswith(">"):
            raise ValueError(f"column type: '>' expected at {rest!r}")
        return ("list", inner), rest[1:]
    if s.startswith("struct<"):
        fields, rest = [], s[7:]
        while True:
            name, colon, rest = rest.partition(":")
            if not colon or not name.isidentifier():
                raise ValueError(f"column type: 'name: type' expected in struct at {name!r}")
            ftype, rest = _parse_type(rest)
            fields.append((name, ftype))
            if rest.startswith(","):
                rest = rest[1:]
                continue
            if rest.startswith(">"):
                return ("struct", tuple(fields)), rest[1:]
            raise ValueError(f"column type: ',' or '>' expected at {rest!r}")
    raise ValueError(f"column type: unknown type at {s!r} (known: {', '.join(SCALAR_TYPES)}, list<>, struct<>)")


def check_job(job: Any) -> None:
    """Raise ``TypeError``/``ValueError`` if ``job`` does not honour :class:`RunnerJob`."""
    if not isinstance(job, RunnerJob):
        missing = [a for a in ("items", "columns", "batch", "resumable", "fingerprint", "gpu", "load", "worker",
                               "reduce") if not hasattr(job, a)]
        raise TypeError(f"{type(job).__name__} is not a RunnerJob (missing: {', '.join(missing)})")
    if not all(isinstance(i, str) for i in job.items):
        raise TypeError("job.items must be strings")
    for name, t in job.columns.items():
        if not str(name).isidentifier():
            raise ValueError(f"column name {name!r} is not an identifier")
        parse_column_type(t)
    if int(job.batch) < 1:
        raise ValueError("job.batch must be >= 1")
