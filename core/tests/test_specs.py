"""Capability specs: a required program missing from PATH makes a spec unavailable up front, with
the program's own install instructions (not a pip command)."""
from __future__ import annotations

import pytest

from segctl.errors import MissingDependencyError
from segctl.specs import ExporterSpec


def _spec(**kw):
    return ExporterSpec(name="x", target="json:dumps", install="pip install segctl-x", **kw)


def test_missing_program_makes_spec_unavailable_with_its_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    spec = _spec(programs=("x_compiler",), programs_install="apt-get install x-compiler")
    assert not spec.available and spec.missing() == ["program x_compiler"]
    assert spec.install_hint() == "apt-get install x-compiler"
    with pytest.raises(MissingDependencyError) as info:
        spec.load()
    assert "x_compiler" in info.value.message and info.value.hint == "apt-get install x-compiler"


def test_program_on_path_is_found(tmp_path, monkeypatch):
    exe = tmp_path / "x_compiler"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    spec = _spec(programs=("x_compiler",), programs_install="apt-get install x-compiler")
    assert spec.available and spec.load()({"a": 1}) == '{"a": 1}'


def test_missing_module_keeps_the_pip_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    spec = _spec(requires=("no_such_module_xyz",), programs=("x_compiler",), programs_install="apt-get ...")
    assert spec.install_hint() == "pip install segctl-x"
