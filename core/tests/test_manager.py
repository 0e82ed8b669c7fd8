"""Plugin discovery: failures recorded not fatal, autoload controls, duplicates, strict mode."""
import sys

import pytest
from fakedist import make_dist

from segctl import hookimpl
from segctl.errors import PluginError, UsageError
from segctl.manager import load_plugins, new_plugin_manager
from segctl.session import Session
from segctl.specs import ExporterSpec

GOOD = """
from segctl import hookimpl
from segctl.specs import ExporterSpec
@hookimpl
def segctl_register_exporters():
    return [ExporterSpec(name="jsondesc", target="good_plugin:X", suffix=".json")]
"""


@pytest.fixture
def dists(tmp_path, monkeypatch):
    make_dist(tmp_path, "segctl-good", "1.2.3", {"good": "good_plugin"}, {"good_plugin": GOOD})
    make_dist(tmp_path / "b", "broken-imp", "0.1", {"broken": "broken_plugin"},
              {"broken_plugin": "import does_not_exist_module_xyz\n"})
    make_dist(tmp_path / "c", "broken-rt", "0.2", {"boom": "boom_plugin"},
              {"boom_plugin": "raise RuntimeError('kaboom at import')\n"})
    make_dist(tmp_path / "d", "typo-dist", "0.3", {"typo": "typo_plugin"},
              {"typo_plugin": "from segctl import hookimpl\n@hookimpl\ndef segctl_register_exporter():\n    return []\n"})
    for sub in ("", "b", "c", "d"):
        monkeypatch.syspath_prepend(str(tmp_path / sub))
    yield tmp_path
    for m in ("good_plugin", "broken_plugin", "boom_plugin", "typo_plugin"):
        sys.modules.pop(m, None)


def _rec(records, name):
    return next(r for r in records if r.name == name)


def test_failures_are_recorded_and_others_load(dists):
    pm = new_plugin_manager()
    records = load_plugins(pm)
    assert _rec(records, "good").status == "ok"
    assert _rec(records, "good").dist == "segctl-good" and _rec(records, "good").version == "1.2.3"
    broken = _rec(records, "broken")
    assert broken.status == "failed" and "does_not_exist_module_xyz" in broken.error
    assert "kaboom" in _rec(records, "boom").error
    typo = _rec(records, "typo")
    assert typo.status == "failed" and "did you mean segctl_register_exporters" in typo.error
    assert pm.has_plugin("good")


def test_strict_mode_is_fatal(dists, monkeypatch):
    with pytest.raises(PluginError, match="broken"):
        load_plugins(new_plugin_manager(), strict=True)
    monkeypatch.setenv("SEGCTL_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError):
        load_plugins(new_plugin_manager())


def test_disable_and_only_never_import(dists, monkeypatch):
    monkeypatch.setenv("SEGCTL_DISABLE_PLUGINS", "broken,boom")
    records = load_plugins(new_plugin_manager())
    assert _rec(records, "broken").status == "blocked"
    assert "broken_plugin" not in sys.modules and "boom_plugin" not in sys.modules
    monkeypatch.delenv("SEGCTL_DISABLE_PLUGINS")
    for m in ("good_plugin", "typo_plugin"):
        sys.modules.pop(m, None)
    monkeypatch.setenv("SEGCTL_PLUGINS", "segctl-good")
    records = load_plugins(new_plugin_manager())
    assert _rec(records, "good").status == "ok" and _rec(records, "typo").status == "blocked"
    assert _rec(records, "segment").status == "ok"  # essential plugins cannot be blocked
    assert "typo_plugin" not in sys.modules


def test_autoload_off_imports_no_third_party(dists, monkeypatch):
    monkeypatch.setenv("SEGCTL_DISABLE_PLUGIN_AUTOLOAD", "1")
    # only the core's own plugin (the local runner) is there; no entry point was loaded
    assert [(r.name, r.dist) for r in load_plugins(new_plugin_manager())] == [("core", "segctl-core")]
    assert "good_plugin" not in sys.modules


def test_duplicate_entry_point_name_detected(tmp_path, monkeypatch):
    make_dist(tmp_path / "x", "dist-x", "1.0", {"same": "same_x"}, {"same_x": ""})
    make_dist(tmp_path / "y", "dist-y", "2.0", {"same": "same_y"}, {"same_y": ""})
    monkeypatch.syspath_prepend(str(tmp_path / "x"))
    monkeypatch.syspath_prepend(str(tmp_path / "y"))
    records = [r for r in load_plugins(new_plugin_manager()) if r.name == "same"]
    assert {r.dist for r in records} == {"dist-x", "dist-y"}
    assert sorted(r.status for r in records) == ["duplicate", "ok"]


class _P1:
    @hookimpl
    def segctl_register_exporters(self):
        return [ExporterSpec(name="fmtx", target="a:b", suffix=".x")]


class _P2:
    @hookimpl
    def segctl_register_exporters(self):
        return [ExporterSpec(name="fmtx", target="c:d", suffix=".x")]


def test_duplicate_capability_names_both_providers(monkeypatch):
    s = Session.create(autoload=False, extra=[("p-one", _P1()), ("p-two", _P2())])
    with pytest.raises(PluginError) as e:
        s.registry.get("exporters", "fmtx")
    assert "p-one" in str(e.value) and "p-two" in str(e.value) and "SEGCTL_PREFER" in e.value.hint
    monkeypatch.setenv("SEGCTL_PREFER", "exporters.fmtx=p-two")
    s2 = Session.create(autoload=False, extra=[("p-one", _P1()), ("p-two", _P2())])
    assert s2.registry.get("exporters", "fmtx").target == "c:d"


def test_unknown_name_did_you_mean():
    s = Session.create()
    with pytest.raises(UsageError, match="did you mean 'segment'"):
        s.registry.get("tasks", "segmnet")


class _Raises:
    @hookimpl
    def segctl_register_exporters(self):
        raise ValueError("broken registration")


def test_registration_error_attributed():
    s = Session.create(autoload=False, extra=[("bad-reg", _Raises()), ("p-one", _P1())])
    assert "bad-reg" in s.registry.errors and "broken registration" in s.registry.errors["bad-reg"]
    assert s.registry.get("exporters", "fmtx").plugin == "p-one"
