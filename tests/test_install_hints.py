"""Install hints are true: every "missing dependency" command that a registered capability shows
names packages from the package index (never a segctl distribution, which is installed already when
its spec is shown and is not on the index), and -- slow, it needs the index -- each pip command
resolves as written in a fresh environment (``pip install --dry-run --ignore-installed``)."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys

import pytest

from segctl.specs import SPEC_KINDS


def _hints(session, runnable_here: bool = False) -> dict[str, str]:
    """``{hint: "kind name"}`` for every spec with an install command (install and program install);
    ``runnable_here`` leaves out capabilities this machine cannot run at all (their description says
    "not available on this machine", e.g. TensorRT without an NVIDIA driver, whose pip packages
    refuse to build their metadata there)."""
    out: dict[str, str] = {}
    for kind in SPEC_KINDS:
        specs = session.registry.all(kind)
        for spec in (specs.values() if isinstance(specs, dict) else specs):
            if runnable_here and (spec.description.startswith("not available") or spec.install.startswith("not available")):
                continue
            for hint in (spec.install, spec.programs_install):
                if hint:
                    out.setdefault(hint, f"{spec.kind} {spec.name}")
    return out


def pip_commands(hint: str) -> list[list[str]]:
    """The package arguments of each ``pip install`` in ``hint`` (up to a comment, ``)``, ``;`` or ``&&``)."""
    text = re.split(r"\s#\s", hint)[0]
    return [[w for w in shlex.split(m) if not w.startswith("-")]
            for m in re.findall(r"\bpip install ([^#;)&]*)", text)]


def requirement_name(arg: str) -> str:
    """The normalised distribution name of a pip argument (extras, markers and versions dropped), as pip's
    resolution report names it: ``"ray[data]==2.60.0"`` -> ``"ray"``."""
    from packaging.requirements import Requirement
    return re.sub(r"[-_.]+", "-", Requirement(arg).name).lower()


def test_requirement_names_drop_extras_and_versions():
    assert [requirement_name(a) for a in ["ray[data]", "numpy<=2.3.5", "tf_keras==2.21.0", "onnx"]] == [
        "ray", "numpy", "tf-keras", "onnx"]


def test_pip_commands_are_parsed():
    assert pip_commands('pip install coremltools==9.0 "numpy<=2.3.5"  # elsewhere: pip install x') == [
        ["coremltools==9.0", "numpy<=2.3.5"]]
    assert pip_commands("sudo apt-get install edgetpu-compiler") == []
    assert pip_commands("not here (on a GPU machine: pip install tensorrt-cu12==10.13.3.9)") == [["tensorrt-cu12==10.13.3.9"]]


def test_every_hint_is_a_command_naming_index_packages(segctl_session):
    hints = _hints(segctl_session)
    assert len(hints) >= 10
    for hint, who in hints.items():
        cmds = pip_commands(hint)
        assert cmds or "apt-get install" in hint or "npm install" in hint, f"{who}: no install command in {hint!r}"
        for args in cmds:
            assert args, f"{who}: empty pip install in {hint!r}"
            assert not [a for a in args if a.lower().startswith("segctl")], \
                f"{who}: {hint!r} names a segctl distribution (installed already, not on the index)"


def test_coreml_hint_names_the_runtime(segctl_session):
    spec = segctl_session.registry.get("exporters", "coreml")
    assert ["coremltools==9.0", "numpy<=2.3.5"] in pip_commands(spec.install_hint())


@pytest.mark.slow
def test_every_pip_hint_resolves_in_a_fresh_environment(segctl_session, tmp_path):
    """Resolution only (``--dry-run``), ignoring what this environment has installed, so each
    command is judged as it would run in a fresh one; needs the package index (CI has it). The pip
    configuration of the machine applies (here: torch capped at 2.14.1, the project's pin)."""
    failures = []
    for hint, who in sorted(_hints(segctl_session, runnable_here=True).items(), key=lambda kv: kv[1]):
        for args in pip_commands(hint):
            report = tmp_path / "report.json"
            proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                                   "--report", str(report), *args], capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                failures.append(f"{who}: pip install {' '.join(args)}: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            names = {requirement_name(i["metadata"]["name"]) for i in json.loads(report.read_text())["install"]}
            wanted = {requirement_name(a) for a in args}
            if wanted - names:
                failures.append(f"{who}: {sorted(wanted - names)} not in the resolution of {args}")
    assert not failures, "\n".join(failures)
