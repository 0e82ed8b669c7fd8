"""The runner hook: the built-in ``local`` runner, dispatch by ``runner=``, the job contract and the
conformance check third-party runners call (``segctl.testing.check_runner``)."""
from __future__ import annotations

import json

import pytest

import runner_plugins
from segctl.errors import UsageError
from segctl.runner_check import ToyJob, ToyTask
from segctl.runners import check_job, parse_column_type, run_job_here, run_mode
from segctl.session import Session
from segctl.testing import check_runner


@pytest.fixture
def session():
    return Session.create(autoload=False, extra=[("runner-plugins", runner_plugins)])


def test_local_runner_is_built_into_the_core(session):
    spec = session.registry.get("runners", "local")
    assert spec.plugin == "core" and spec.dist == "segctl-core" and spec.modes == ()
    core = next(r for r in session.records if r.name == "core")
    assert core.provides == {"runners": ["local"]} and core.builtin


def test_plugins_json_lists_runners(segctl_cli):
    code, out, _ = segctl_cli("plugins", "--json")
    assert code == 0
    core = next(p for p in json.loads(out)["plugins"] if p["name"] == "core")
    assert core["provides"] == {"runners": ["local"]}


def test_local_runner_passes_the_conformance_check(session, tmp_path):
    rows = check_runner(session.registry.get("runners", "local"), tmp_path / "out")
    assert len(rows) == 24 and rows[-1][4] == "not a number: bad" and rows[5][2] == 25


def test_a_correct_third_party_runner_passes(session, tmp_path):
    check_runner(session.registry.get("runners", "threads"), tmp_path / "out")


def test_the_check_catches_a_runner_that_loses_an_item(session, tmp_path):
    with pytest.raises(AssertionError, match=r"missing indices \[23\]"):
        check_runner(session.registry.get("runners", "lossy"), tmp_path / "out")


def test_model_predict_dispatches_on_the_runner_key(session):
    from segctl.model import Model

    m = Model("toy-model", task="toy", session=session)
    assert m.predict(runner="threads") == run_job_here(ToyJob())
    assert m.predict() == run_job_here(ToyJob())  # runner=local (default): the task's own method


def test_unknown_runner_gets_did_you_mean(session):
    with pytest.raises(UsageError, match="unknown runner 'thread', did you mean 'threads'"):
        run_mode(session, "toy", "predict", {"runner": "thread"})


def test_runner_refuses_a_mode_it_cannot_run(session):
    with pytest.raises(UsageError, match="runner 'threads' cannot run val") as e:
        run_mode(session, "toy", "val", {"runner": "threads"})
    assert "lossy" in e.value.hint and "local" in e.value.hint


def test_task_without_a_job_only_runs_locally(session):
    assert run_mode(session, "nojob", "predict", {}) == "ran locally"
    with pytest.raises(UsageError, match="has no job"):
        run_mode(session, "nojob", "predict", {"runner": "threads"})


def test_column_types_parse_nested_arrow_names():
    assert parse_column_type("list<struct<size: list<int32>, counts: string>>") == \
        ("list", ("struct", (("size", ("list", "int32")), ("counts", "string"))))
    assert parse_column_type("float32") == "float32"
    for bad in ("list<int32", "int33", "struct<a int32>", "list<int32>>", "struct<1a: int32>"):
        with pytest.raises(ValueError):
            parse_column_type(bad)


def test_check_job_names_what_is_missing():
    check_job(ToyJob())

    class NotAJob:
        items = ["a"]

    with pytest.raises(TypeError, match="missing: columns"):
        check_job(NotAJob())
    bad = ToyJob()
    bad.columns = {"x": "list<float>"}
    with pytest.raises(ValueError, match="unknown type"):
        check_job(bad)


def test_toy_task_local_path_matches_reference():
    assert ToyTask().predict({}, None) == run_job_here(ToyJob())
