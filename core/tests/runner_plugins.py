"""In-process plugins for the runner tests: a toy task with a schema, a correct thread-pool runner
(items out of order, one batch run twice as after a retry) and a broken one that loses an item."""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

from segctl import hookimpl
from segctl.config import Option
from segctl.runner_check import ToyTask
from segctl.specs import RunnerSpec, TaskSpec

SCHEMA = [Option("model", None, "str", "model", nullable=True), Option("source", None, "str", "source", nullable=True),
          Option("save", False, "bool", "save"), Option("runner", "local", "str", "runner"),
          Option("output", None, "str", "output folder", nullable=True), Option("batch", 4, "int", "batch")]


class ThreadRunner:
    """Runs the job's steps on a thread pool, shuffled, with one batch executed twice (a retry):
    it keeps the first copy of each item's rows, so reduce sees every item once."""

    def run(self, task, mode, cfg, session):
        job = task.job(mode, cfg, session)
        items = list(enumerate(job.items))
        batches = [items[i:i + job.batch] for i in range(0, len(items), job.batch)]
        batches.append(batches[0])  # a retried batch
        random.Random(0).shuffle(batches)
        work = job.worker()

        def one(batch):
            return [(i, rows) for (i, _), rows in zip(batch, work([job.load(i, it) for i, it in batch]))]

        done: dict[int, list] = {}
        with ThreadPoolExecutor(2) as ex:
            for result in ex.map(one, batches):
                for i, rows in result:
                    done.setdefault(i, rows)
        return job.reduce([r for i in sorted(done) for r in done[i]], cfg.get("output"))


class LossyRunner(ThreadRunner):
    """Forgets the last item: the conformance check must catch it."""

    def run(self, task, mode, cfg, session):
        job = task.job(mode, cfg, session)
        work = job.worker()
        rows = [r for i, it in enumerate(job.items[:-1]) for r in work([job.load(i, it)])[0]]
        return job.reduce(rows, cfg.get("output"))


class NoJobTask:
    def predict(self, cfg, session):
        return "ran locally"


@hookimpl
def segctl_register_tasks():
    return [TaskSpec(name="toy", target="runner_plugins:ToyTask", schema="runner_plugins:SCHEMA",
                     modes=("predict", "val")),
            TaskSpec(name="nojob", target="runner_plugins:NoJobTask", schema="runner_plugins:SCHEMA",
                     modes=("predict",))]


@hookimpl
def segctl_register_runners():
    return [RunnerSpec(name="threads", target="runner_plugins:ThreadRunner", modes=("predict",)),
            RunnerSpec(name="lossy", target="runner_plugins:LossyRunner")]


__all__ = ["ToyTask"]
