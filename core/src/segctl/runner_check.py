"""Conformance check for runners (``segctl_register_runners``), usable by third-party plugins.

Why a toy task: a runner must not depend on a task plugin, and its test should not need torch. The
toy job below is pure Python but exercises the whole :class:`segctl.runners.RunnerJob` contract:
items split over several worker calls, a payload that reports an error, nested row columns
(``list<struct<...>>``) and null values, and a rerun into the same output.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .runners import check_job, run_job_here
from .specs import RunnerSpec

TOY_COLUMNS = {"index": "int64", "item": "string", "square": "int64",
               "parts": "list<struct<a: int32, b: string>>", "error": "string"}


def _toy_worker(payloads: list) -> list[list[dict]]:
    out = []
    for index, item, value in payloads:
        if value is None:
            out.append([{"index": index, "item": item, "square": None, "parts": [], "error": f"not a number: {item}"}])
        else:
            out.append([{"index": index, "item": item, "square": value * value,
                         "parts": [{"a": value % 7, "b": "x" * (value % 3)}] * (value % 3), "error": None}])
    return out


class ToyJob:
    """``n`` numbers and one bad item; each row holds the square. Picklable, importable anywhere."""

    columns = TOY_COLUMNS
    batch = 4
    resumable = True
    gpu = False

    def __init__(self, n: int = 23):
        self.items = [str(i) for i in range(n)] + ["bad"]
        self.fingerprint = {"toy": n}

    def load(self, index: int, item: str):
        try:
            return index, item, int(item)
        except ValueError:
            return index, item, None

    def worker(self):
        return _toy_worker

    def reduce(self, rows, output):
        """Rows normalised to tuples, sorted by index (duplicates would show as extra entries)."""
        out = []
        for r in rows:
            parts = [(int(p["a"]), str(p["b"])) for p in (r["parts"] or [])]
            out.append((int(r["index"]), str(r["item"]), None if r["square"] is None else int(r["square"]),
                        parts, r["error"]))
        return sorted(out, key=lambda t: t[0])


class ToyTask:
    """A task whose modes run the toy job in this process (``local``) or hand it to a runner."""

    name = "toy"

    def __init__(self, n: int = 23):
        self.n = n

    def job(self, mode: str, cfg: dict, session: Any) -> ToyJob:
        return ToyJob(self.n)

    def predict(self, cfg: dict, session: Any):
        return run_job_here(self.job("predict", cfg, session))

    val = predict


def check_runner(spec: RunnerSpec, output_dir: str | Path, cfg: dict | None = None, session: Any = None,
                 n: int = 23) -> list:
    """Check a runner against the contract; raises ``AssertionError`` naming what is wrong.

    - the spec is a :class:`RunnerSpec` with a ``module:attr`` target and its requirements installed;
    - the target builds with no arguments and has ``run(task, mode, cfg, session)``;
    - a job run through it gives exactly the rows the in-process reference executor gives (every
      item once, the bad item as an error row, nested columns and nulls intact);
    - a second run into the same ``output`` gives the same rows again (nothing lost or doubled
      when a finished output is reused).

    ``cfg`` adds the runner's own keys (a cluster address, worker count...). Returns the rows.
    """
    assert isinstance(spec, RunnerSpec), f"{spec!r} is not a RunnerSpec"
    assert ":" in spec.target, f"runner '{spec.name}': target {spec.target!r} is not 'module:attr'"
    assert spec.available, f"runner '{spec.name}' misses {spec.missing()}: {spec.install_hint()}"
    cls = spec.load()
    runner = cls() if isinstance(cls, type) else cls
    assert callable(getattr(runner, "run", None)), f"runner '{spec.name}' has no run(task, mode, cfg, session)"
    mode = "predict" if not spec.modes or "predict" in spec.modes else spec.modes[0]
    task = ToyTask(n)
    check_job(task.job(mode, {}, session))
    expected = run_job_here(task.job(mode, {}, session))
    out = Path(output_dir)
    base = {"mode": mode, "task": "toy", "runner": spec.name, "output": str(out), "batch": ToyJob.batch,
            **(cfg or {})}
    first = runner.run(task, mode, dict(base), session)
    assert first == expected, f"runner '{spec.name}': rows differ from the reference\n{_diff(first, expected)}"
    second = runner.run(task, mode, dict(base), session)
    assert second == expected, f"runner '{spec.name}': a rerun into the same output changed the rows\n" \
                               f"{_diff(second, expected)}"
    return first


def _diff(got, want) -> str:
    if not isinstance(got, list):
        return f"got {type(got).__name__}: {got!r:.200}"
    g, w = {t[0]: t for t in got}, {t[0]: t for t in want}
    dup = len(got) - len(g)
    missing = sorted(set(w) - set(g))
    wrong = sorted(k for k in set(w) & set(g) if w[k] != g[k])
    return f"{dup} duplicate(s), missing indices {missing[:10]}, differing {[(g[k], w[k]) for k in wrong[:3]]}"
