"""Shared pieces of the hostile-file tests: open crafted files in a fresh interpreter and measure it.

Why a subprocess: peak RSS (``ru_maxrss``) only ever grows, so the cost of a refusal can be read
honestly only in a process that did nothing else. The child imports torch and segctl, records its
peak RSS as the baseline, then runs each job (open one crafted file) and reports, per job, the
exception raised (type names and message), the seconds taken and the peak RSS over the baseline *so
far*. The peak is monotonic, so every job's cost is at most the last report's figure: one child
serves a whole family of attacks (starting torch costs seconds) and still bounds each of them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CHILD = r"""
import json, os, resource, sys, time
import torch, segctl.nn.checkpoint
from segctl.session import Session
from segctl.nn.registry_helpers import load_model_from_session

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

session = Session.create()
OPS = {
    "load": lambda path: segctl.nn.checkpoint.load_checkpoint(path, session=session),
    "model": lambda path: load_model_from_session(path, session),
}
for name, op in json.loads(sys.argv[2]).items():  # extra ops: name -> "module:function"
    mod, fn = op.split(":")
    OPS[name] = getattr(__import__(mod, fromlist=[fn]), fn)
base = rss()
out = {}
for job in json.loads(sys.argv[1]):
    saved = dict(os.environ)
    os.environ.update(job.get("env") or {})
    t = time.perf_counter()
    err = None
    try:
        OPS[job["op"]](job["path"])
    except BaseException as e:  # reported, not raised: the parent asserts on it
        err = {"type": type(e).__name__, "mro": [c.__name__ for c in type(e).__mro__], "message": str(e)}
    os.environ.clear()
    os.environ.update(saved)
    out[job["name"]] = {"error": err, "seconds": time.perf_counter() - t, "rss_mb": rss() - base}
print(json.dumps(out))
"""


def run_isolated(jobs: list[dict], ops: dict[str, str] | None = None, timeout: float = 120) -> dict:
    """Run ``jobs`` (``{"name", "op", "path", "env"?}``) in a fresh interpreter; ``{name: report}``.

    ``op`` is ``load`` (load_checkpoint), ``model`` (load and rebuild the model) or a name from
    ``ops`` (``{"name": "module:function"}``, called with the path)."""
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(jobs), json.dumps(ops or {})],
                          capture_output=True, text=True, timeout=timeout, env=dict(os.environ))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert proc.returncode == 0 and lines, f"child failed (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1])


def assert_refused(report: dict, kind: str, *words: str, rss_limit_mb: float = 100, time_limit_s: float = 10) -> None:
    """The job raised ``kind`` (a SegctlError: a clear message, exit 1/2, no traceback) naming
    ``words``, within ``rss_limit_mb`` of peak RSS over the baseline and ``time_limit_s``."""
    err = report["error"]
    assert err is not None, f"crafted file was accepted: {report}"
    assert kind in err["mro"], err
    assert "SegctlError" in err["mro"], err
    for w in words:
        assert w in err["message"], err
    assert report["rss_mb"] < rss_limit_mb, report
    assert report["seconds"] < time_limit_s, report


@pytest.fixture(scope="module")
def isolated():
    return run_isolated


@pytest.fixture(scope="module")
def refused():
    """:func:`assert_refused` (test modules import nothing from conftest under importlib mode)."""
    return assert_refused
