"""``runner=ray``: a task's job (:class:`segctl.runners.RunnerJob`) on a Ray cluster through Ray Data.

What runs where (docs/scale-out.md):

- **driver** (this process): asks the task for its job, lists the items, skips the shards already in
  ``output=``, streams the rows back, writes each finished shard (:mod:`.output`), shows progress,
  and calls the job's ``reduce`` (COCO JSON, validation metrics);
- **CPU tasks** (Ray Data task pool, a quarter CPU each): ``job.load`` — read, decode, letterbox;
- **inference actors** (a fixed pool of ``workers``; one GPU each when the cluster has GPUs, else a
  share of the CPUs): ``job.worker()`` made once per actor (the model loads once), then the backend
  call and post-processing next to it. Ray restarts a killed actor and retries its batch; the
  driver keeps the first delivery of every item, so nothing is doubled.

The runner knows nothing of segmentation: payloads travel pickled (one binary column), rows in the
Arrow schema the job declares.
"""
from __future__ import annotations

import copy
import math
import os
import pickle
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from segctl.errors import UsageError
from segctl.runners import check_job, items_digest

from .output import OutputStore, arrow_schema

LOAD_CPUS = 0.25  # logical CPUs per decode task (I/O and a little CPU: several share a core)
#: Ray Data settings for a run (restored after): our progress bar counts images, not blocks; blocks of
#: decoded images stay small (32 MiB: about 26 letterboxed 640-px images) so actors are fed early and evenly
_CONTEXT = {"enable_progress_bars": False, "print_on_execution_start": False, "enable_auto_log_stats": False,
            "target_max_block_size": 32 * 1024 * 1024}


class RayRunner:
    """The ``ray`` runner. ``stats`` holds Ray Data's per-stage timing of the last run."""

    def __init__(self):
        self.stats = ""
        self.plan: dict = {}

    def run(self, task: Any, mode: str, cfg: dict, session: Any) -> Any:
        job = task.job(mode, cfg, session)
        check_job(job)
        out_dir = getattr(job, "output", None) or cfg.get("output")
        store = None
        if job.resumable and out_dir:
            store = OutputStore(out_dir, dict(job.columns), len(job.items), items_digest(job.items),
                                dict(job.fingerprint), fmt=str(cfg.get("output_format") or "parquet"),
                                shard_size=int(cfg.get("shard_size") or 256)).open()
            pending = store.pending()
        else:
            pending = list(range(len(job.items)))
        rows_by_item: dict[int, list[dict]] = {}
        if pending:
            with connected(cfg.get("ray_address")):
                self._execute(job, pending, cfg, store, rows_by_item)
        if store is not None:
            store.finish()
            return job.reduce(store.rows(), str(store.folder))
        missing = [i for i in range(len(job.items)) if i not in rows_by_item]
        if missing:
            raise RuntimeError(f"{len(missing)} item(s) got no rows from the cluster (first: {job.items[missing[0]]})")
        return job.reduce([r for i in sorted(rows_by_item) for r in rows_by_item[i]], out_dir)

    # ------------------------------------------------------------------ the pipeline
    def _execute(self, job, pending: list[int], cfg: dict, store: OutputStore | None, rows_by_item: dict) -> None:
        import ray

        ctx = ray.data.DataContext.get_current()
        saved = {k: getattr(ctx, k) for k in _CONTEXT}
        try:
            for k, v in _CONTEXT.items():
                setattr(ctx, k, v)
            self._pipeline(job, pending, cfg, store, rows_by_item)
        finally:
            for k, v in saved.items():
                setattr(ctx, k, v)

    def _pipeline(self, job, pending: list[int], cfg: dict, store: OutputStore | None, rows_by_item: dict) -> None:
        import pyarrow as pa
        import ray

        self.plan = plan = plan_resources(ray.cluster_resources(), int(cfg.get("workers") or 1), bool(job.gpu),
                                          len(pending))
        light = copy.copy(job)
        light.items = ()  # items travel in the rows, not inside every copy of the job
        table = pa.table({"i": pa.array(pending, pa.int64()),
                          "item": pa.array([job.items[i] for i in pending], pa.string())})
        step = plan["block_rows"]
        blocks = [table.slice(k, step) for k in range(0, len(pending), step)]
        batch = max(int(job.batch), 1)
        ds = ray.data.from_arrow(blocks)
        ds = ds.map_batches(_load_step, fn_kwargs={"job": light}, batch_size=batch, batch_format="pyarrow",
                            num_cpus=LOAD_CPUS)
        ds = ds.map_batches(_WorkStep, fn_constructor_kwargs={"job": light}, batch_size=batch,
                            batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=plan["actors"]),
                            num_cpus=plan["actor_cpus"], num_gpus=plan["actor_gpus"],
                            runtime_env={"env_vars": {"OMP_NUM_THREADS": str(plan["actor_threads"])}})
        unit = getattr(job, "unit", "items")
        first_call: dict[int, str] = {}
        with _progress(len(pending), unit, plan, cfg.get("verbose", True)) as advance, _quiet_ray_data():
            for tbl in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                new = 0
                for row in tbl.to_pylist():
                    i, call = row.pop("_i"), row.pop("_call")
                    if store is not None:
                        new += store.add(i, row)
                        continue
                    owner = first_call.setdefault(i, call)  # rows of a retried call are dropped
                    if owner == call:
                        new += i not in rows_by_item
                        rows_by_item.setdefault(i, []).append(row)
                advance(new)
        self.stats = ds.stats()


def _load_step(batch, job):
    """CPU task: ``job.load`` for each item of the batch; payloads pickled into one binary column."""
    import pyarrow as pa

    idx = batch.column("i").to_pylist()
    items = batch.column("item").to_pylist()
    blobs = [pickle.dumps(job.load(i, it), protocol=5) for i, it in zip(idx, items)]
    return pa.table({"i": pa.array(idx, pa.int64()), "payload": pa.array(blobs, pa.large_binary())})


class _WorkStep:
    """Inference actor: one ``job.worker()`` (the model) for its lifetime."""

    def __init__(self, job):
        self.job = job
        self.work = job.worker()
        self.schema = arrow_schema(dict(job.columns), extra=_extra_fields())

    def __call__(self, batch):
        import pyarrow as pa

        idx = batch.column("i").to_pylist()
        payloads = [pickle.loads(b) for b in batch.column("payload").to_pylist()]
        out = self.work(payloads)
        if len(out) != len(payloads):
            raise RuntimeError(f"job worker returned {len(out)} row lists for {len(payloads)} payloads")
        call = uuid.uuid4().hex  # tells a retried call's rows from the first delivery's
        rows = [{**r, "_i": i, "_call": call} for i, item_rows in zip(idx, out) for r in item_rows]
        return pa.Table.from_pylist(rows, schema=self.schema)


def _extra_fields() -> dict:
    import pyarrow as pa

    return {"_i": pa.int64(), "_call": pa.string()}


def plan_resources(resources: dict, workers: int, gpu: bool, n_items: int) -> dict:
    """How many inference actors, with what, and how big the input blocks are.

    GPU cluster (and a job that can use one): one actor per GPU up to ``workers``, one CPU each.
    CPU cluster: ``workers`` actors (at most one per CPU) sharing the CPUs left after a reserve
    for the decode tasks (an eighth of the cluster, at least half a CPU); each actor runs its
    runtime with that many threads."""
    cpus = float(resources.get("CPU", 1.0))
    gpus = int(resources.get("GPU", 0))
    if gpu and gpus >= 1:
        actors = max(1, min(workers, gpus))
        actor_cpus, actor_gpus = min(1.0, max((cpus - LOAD_CPUS) / actors, 0.25)), 1
    else:
        actors = max(1, min(workers, int(cpus)))
        reserve = max(0.5, cpus / 8)
        actor_cpus, actor_gpus = max((cpus - reserve) / actors, 0.25), 0
    actor_cpus = math.floor(actor_cpus * 100) / 100
    threads = max(1, round(actor_cpus))
    block_rows = max(1, min(256, math.ceil(n_items / max(4 * cpus, 1))))
    return {"actors": actors, "actor_cpus": actor_cpus, "actor_gpus": actor_gpus, "actor_threads": threads,
            "block_rows": block_rows, "cluster_cpus": cpus, "cluster_gpus": gpus}


@contextmanager
def connected(address: str | None):
    """Use the Ray instance of this process if there is one (tests, notebooks); else join
    ``address`` (``auto``, ``host:port``, ``ray://...``), or without one join the running local
    cluster or start a private one (bound to the loopback address only)."""
    import sys

    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        yield
        return
    if not address:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before ray is imported: loopback only
    import ray

    kwargs: dict = {"logging_level": "WARNING", "log_to_driver": False}
    if not address:
        kwargs["include_dashboard"] = False
    try:
        ray.init(address=address or None, **kwargs)
    except ConnectionError as e:
        raise UsageError(f"cannot reach a Ray cluster at ray_address={address!r}: {e}",
                         hint="start one with 'ray start --head', or leave ray_address unset for a local one") from e
    try:
        yield
    finally:
        ray.shutdown()


@contextmanager
def _quiet_ray_data():
    """Ray Data's INFO lines (plan, "execution finished") and its note that its own bars are off
    would interleave with our bar: raise its loggers to WARNING for the run, minus that note."""
    import logging

    class _NoBarsNote(logging.Filter):
        def filter(self, record):
            return "Progress bars disabled" not in record.getMessage()

    loggers = [logging.getLogger(n) for n in ("ray.data", "ray.data._internal.execution.streaming_executor",
                                              "ray.data._internal.progress")]
    levels = [lg.level for lg in loggers]
    note = _NoBarsNote()
    for lg in loggers:
        lg.setLevel(logging.WARNING)
        lg.addFilter(note)
    try:
        yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)
            lg.removeFilter(note)


@contextmanager
def _progress(total: int, unit: str, plan: dict, verbose: bool):
    """A rich progress bar: done/total, rate, elapsed and ETA; ``advance(n)`` moves it."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True)
    where = (f"{plan['actors']} actor(s) x {plan['actor_gpus']} GPU" if plan["actor_gpus"]
             else f"{plan['actors']} actor(s) x {plan['actor_cpus']:g} CPU")
    bar = Progress(TextColumn("[bold]ray[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                   console=console, disable=not verbose, transient=False)
    t0 = time.perf_counter()
    done = [0]
    with bar:
        task = bar.add_task(f"{unit} ({where})", total=total, rate="")

        def advance(n: int) -> None:
            done[0] += n
            dt = max(time.perf_counter() - t0, 1e-9)
            bar.update(task, advance=n, rate=f"{done[0] / dt:.1f} {unit}/s")

        yield advance
    if verbose:
        dt = time.perf_counter() - t0
        console.print(f"{done[0]} {unit} in {dt:.1f} s ({done[0] / max(dt, 1e-9):.1f} {unit}/s) on "
                      f"{plan['cluster_cpus']:g} CPU / {plan['cluster_gpus']} GPU")


__all__ = ["RayRunner", "plan_resources", "connected"]
