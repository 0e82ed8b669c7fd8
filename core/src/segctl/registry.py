"""Typed registries built from the registration hooks.

Each spec is attributed to the plugin that returned it (hook implementations are called one by
one, so an exception in one plugin is recorded against that plugin and does not hide the others).
Name clashes are never resolved by "last wins": a built-in spec is kept over a third-party one
(and the clash is reported), and a clash between two third-party plugins makes the name unusable
until the user chooses with ``SEGCTL_PREFER=<kind>.<name>=<plugin>`` (comma-separated).
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, replace

from .errors import PluginError, UsageError
from .specs import SPEC_KINDS, Spec

_HOOK_FOR_KIND = {
    "tasks": "segctl_register_tasks",
    "layers": "segctl_register_models",
    "models": "segctl_register_models",
    "dataset_formats": "segctl_register_datasets",
    "datasets": "segctl_register_datasets",
    "exporters": "segctl_register_exporters",
    "backends": "segctl_register_backends",
    "commands": "segctl_register_commands",
    "runners": "segctl_register_runners",
    "trackers": "segctl_register_trackers",
}


@dataclass
class Conflict:
    kind: str
    name: str
    providers: list[Spec]
    kept: Spec | None

    def describe(self) -> str:
        who = " and ".join(f"{s.plugin} ({s.dist} {s.version})" for s in self.providers)
        return f"{self.kind[:-1] if self.kind.endswith('s') else self.kind} '{self.name}' is registered by {who}"


def _prefs() -> dict[str, str]:
    out = {}
    for item in os.environ.get("SEGCTL_PREFER", "").split(","):
        if "=" in item:
            k, v = item.split("=", 1)
            out[k.strip()] = v.strip()
    return out


class Registry:
    """All registered specs by kind and name, plus conflicts and per-plugin call errors."""

    def __init__(self, pm, records=()):
        self._by_kind: dict[str, dict[str, Spec]] = {k: {} for k in SPEC_KINDS}
        self._aliases: dict[str, dict[str, str]] = {k: {} for k in SPEC_KINDS}
        self.conflicts: list[Conflict] = []
        self.errors: dict[str, str] = {}
        self._records = {r.name: r for r in records}
        self._collect(pm)

    # ----------------------------------------------------------------- building
    def _collect(self, pm) -> None:
        prefs = _prefs()
        pending: dict[tuple[str, str], list[Spec]] = {}
        for hook_name in dict.fromkeys(_HOOK_FOR_KIND.values()):
            hook = getattr(pm.hook, hook_name)
            for impl in hook.get_hookimpls():
                rec = self._records.get(impl.plugin_name)
                try:
                    result = impl.function() or []
                except Exception as e:  # noqa: BLE001 - attribute the failure to its plugin
                    self.errors[impl.plugin_name] = f"{hook_name} raised {type(e).__name__}: {e}"
                    if rec:
                        rec.status, rec.error = "failed", self.errors[impl.plugin_name]
                    continue
                for spec in result:
                    kind = self._kind_of(spec, hook_name, impl.plugin_name)
                    if kind is None:
                        continue
                    spec = replace(spec, plugin=impl.plugin_name,
                                   dist=rec.dist if rec else "", version=rec.version if rec else "")
                    pending.setdefault((kind, spec.name), []).append(spec)
                    if rec is not None:
                        rec.provides.setdefault(kind, []).append(spec.name)
        for (kind, name), specs in pending.items():
            kept = self._choose(kind, name, specs, prefs)
            if kept is not None:
                self._by_kind[kind][name] = kept
                for alias in getattr(kept, "aliases", ()):
                    self._aliases[kind][alias] = name

    def _kind_of(self, spec, hook_name, plugin) -> str | None:
        for kind, cls in SPEC_KINDS.items():
            if type(spec) is cls and _HOOK_FOR_KIND[kind] == hook_name:
                return kind
        self.errors[plugin] = f"{hook_name} returned {type(spec).__name__}, not a spec this hook accepts"
        return None

    def _choose(self, kind, name, specs, prefs) -> Spec | None:
        if len(specs) == 1:
            return specs[0]
        want = prefs.get(f"{kind}.{name}")
        if want:
            for s in specs:
                if want in (s.plugin, s.dist):
                    return s
        builtin = [s for s in specs if s.dist.lower().startswith("segctl-")]
        kept = builtin[0] if len(builtin) == 1 else None
        self.conflicts.append(Conflict(kind, name, specs, kept))
        return kept

    # ----------------------------------------------------------------- queries
    def all(self, kind: str) -> list[Spec]:
        return list(self._by_kind[kind].values())

    def names(self, kind: str) -> list[str]:
        return sorted(self._by_kind[kind])

    def find(self, kind: str, name: str) -> Spec | None:
        """The spec or ``None`` (no error): for probing."""
        name = self._aliases[kind].get(name, name)
        return self._by_kind[kind].get(name)

    def get(self, kind: str, name: str) -> Spec:
        """The spec named ``name``; a clear error if unknown (with did-you-mean) or contested."""
        canonical = self._aliases[kind].get(name, name)
        for c in self.conflicts:
            if c.kind == kind and c.name == canonical and c.kept is None:
                raise PluginError(c.describe() + "; segctl will not pick one silently",
                                  hint=f"choose with SEGCTL_PREFER={kind}.{canonical}=<plugin name>, "
                                       "or uninstall one")
        spec = self._by_kind[kind].get(canonical)
        if spec is None:
            known = sorted(set(self._by_kind[kind]) | set(self._aliases[kind]))
            guess = difflib.get_close_matches(name, known, n=1)
            label = kind.rstrip("s").replace("_", " ")
            raise UsageError(f"unknown {label} '{name}'" + (f", did you mean '{guess[0]}'?" if guess else ""),
                             hint=f"available: {', '.join(known) or 'none (is a plugin missing?)'}")
        return spec
