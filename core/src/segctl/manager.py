"""Plugin discovery: entry points in group ``segctl``, loaded one at a time.

Why not ``pm.load_setuptools_entrypoints``: it stops at the first plugin that fails to import and
silently skips a second distribution that reuses an entry-point name. segctl records each outcome
(ok / blocked / failed / duplicate) in a :class:`PluginRecord`, keeps going, and lets
``segctl plugins`` show the whole picture. Strict mode (``SEGCTL_STRICT_PLUGINS=1`` or
``--strict-plugins``) turns any failure into a :class:`PluginError`.
"""
from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import os
from dataclasses import dataclass, field

import pluggy

from . import hookspecs
from .errors import PluginError

GROUP = "segctl"
#: plugins that cannot be blocked: without them the CLI has no task to run.
ESSENTIAL: frozenset[str] = frozenset({"segment"})
#: name of the core's own plugin (segctl.builtin), registered before any entry point
BUILTIN = "core"


@dataclass
class PluginRecord:
    """What happened to one entry point. ``status``: ok, blocked, failed, duplicate."""

    name: str
    dist: str = ""
    version: str = ""
    module: str = ""
    status: str = "ok"
    error: str = ""
    provides: dict[str, list[str]] = field(default_factory=dict)
    builtin: bool = False

    def to_dict(self) -> dict:
        return {"name": self.name, "distribution": self.dist, "version": self.version,
                "module": self.module, "status": self.status, "error": self.error,
                "provides": self.provides}


def _split_env(var: str) -> list[str]:
    return [x.strip() for x in os.environ.get(var, "").split(",") if x.strip()]


def _truthy(var: str) -> bool:
    return os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on")


def _matches(record_name: str, dist: str, names: set[str]) -> bool:
    d = dist.lower()
    return record_name in names or d in names or d.removeprefix("segctl-") in names


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def _unknown_hooks(pm: pluggy.PluginManager, module) -> list[str]:
    """Names of ``segctl_*`` functions in ``module`` that match no hook spec (likely misspelt)."""
    known = [n for n in dir(pm.hook) if n.startswith("segctl_")]
    out = []
    for attr in dir(module):
        if not attr.startswith("segctl_") or not callable(getattr(module, attr)):
            continue
        if attr not in known:
            guess = difflib.get_close_matches(attr, known, n=1)
            out.append(attr + (f" (did you mean {guess[0]}?)" if guess else ""))
    return out


def _register_builtin(pm: pluggy.PluginManager) -> PluginRecord:
    """The core's own plugin (:mod:`segctl.builtin`: the ``local`` runner); never blocked."""
    from . import builtin
    from ._version import __version__

    pm.register(builtin, name=BUILTIN)
    return PluginRecord(name=BUILTIN, dist="segctl-core", version=__version__, module=builtin.__name__,
                        builtin=True)


def load_plugins(pm: pluggy.PluginManager, *, disabled=(), only=(), strict=None,
                 autoload=None, extra=()) -> list[PluginRecord]:
    """Discover and register plugins; return one record per entry point seen.

    ``disabled``/``only`` add to ``SEGCTL_DISABLE_PLUGINS``/``SEGCTL_PLUGINS`` (names may be an
    entry-point name or a distribution name). ``extra`` are ``(name, module_or_object)`` pairs
    registered directly (used by tests and by programs embedding segctl).
    """
    disabled = set(disabled) | set(_split_env("SEGCTL_DISABLE_PLUGINS"))
    only = set(only) | set(_split_env("SEGCTL_PLUGINS"))
    strict = _truthy("SEGCTL_STRICT_PLUGINS") if strict is None else strict
    autoload = (not _truthy("SEGCTL_DISABLE_PLUGIN_AUTOLOAD")) if autoload is None else autoload
    records: list[PluginRecord] = [_register_builtin(pm)]
    seen: dict[str, PluginRecord] = {BUILTIN: records[0]}
    eps = md.entry_points(group=GROUP) if autoload else []
    for ep in sorted(eps, key=lambda e: (e.name, e.value)):
        dist = ep.dist.name if ep.dist else ""
        version = ep.dist.version if ep.dist else ""
        rec = PluginRecord(name=ep.name, dist=dist, version=version, module=ep.value,
                           builtin=dist.lower().startswith("segctl-"))
        records.append(rec)
        if ep.name in seen:
            other = seen[ep.name]
            rec.status = "duplicate"
            rec.error = (f"entry-point name '{ep.name}' is also used by {other.dist} {other.version}; "
                         f"uninstall one or disable it with -p no:{ep.name}")
            continue
        seen[ep.name] = rec
        essential = ep.name in ESSENTIAL and rec.builtin
        if not essential and (_matches(ep.name, dist, disabled)
                              or (only and not _matches(ep.name, dist, only))):
            rec.status = "blocked"
            continue
        try:
            module = ep.load()
        except Exception as e:  # noqa: BLE001 - any import failure is recorded, never fatal by default
            rec.status = "failed"
            rec.error = f"{type(e).__name__}: {e}"
            continue
        bad = _unknown_hooks(pm, module)
        if bad:
            rec.status = "failed"
            rec.error = "unknown hook(s): " + ", ".join(bad)
            continue
        try:
            pm.register(module, name=ep.name)
        except Exception as e:  # noqa: BLE001 - pluggy validation errors name the hook
            rec.status = "failed"
            rec.error = f"{type(e).__name__}: {e}"
    for name, obj in extra:
        if isinstance(obj, str):
            obj = importlib.import_module(obj)
        rec = PluginRecord(name=name, dist="(registered in process)", module=getattr(obj, "__name__", ""))
        bad = _unknown_hooks(pm, obj)
        if bad:
            rec.status, rec.error = "failed", "unknown hook(s): " + ", ".join(bad)
        else:
            pm.register(obj, name=name)
        records.append(rec)
    if strict:
        broken = [r for r in records if r.status in ("failed", "duplicate")]
        if broken:
            raise PluginError("plugin(s) failed to load (strict mode): " + "; ".join(
                f"{r.name} ({r.dist} {r.version}): {r.error}" for r in broken),
                hint="fix or uninstall them, or unset SEGCTL_STRICT_PLUGINS")
    return records
