"""Find an export format by name or alias and order the formats it builds on.

Why in the core: formats chain (``tflite`` after ``saved_model`` after ``onnx``), and every
plugin would otherwise re-implement the same recursion. A chain is resolved depth first, each
format once, dependencies before dependants; a cycle or a missing format is a clear error that
names the path through the chain, so a plugin author sees which declaration is wrong.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import PluginError, UsageError


def registered(session: Any, kind: str) -> list:
    """All specs of ``kind`` in the session's registry (accepts a registry returning a dict or a list)."""
    specs = session.registry.all(kind)
    if isinstance(specs, Mapping):
        specs = specs.values()
    return list(specs)


def spec_table(specs: Iterable) -> dict[str, Any]:
    """Map every name and alias (lower-case) to its spec."""
    table: dict[str, Any] = {}
    for spec in specs:
        for key in (spec.name, *getattr(spec, "aliases", ())):
            table.setdefault(key.lower(), spec)
    return table


def find_exporter(name: str, specs: Iterable) -> Any:
    """The exporter spec called ``name`` (or with that alias); a :class:`UsageError` listing the
    known formats otherwise."""
    specs = list(specs)
    table = spec_table(specs)
    key = str(name).strip().lower().lstrip(".")
    if key in table:
        return table[key]
    known = ", ".join(sorted(s.name for s in specs)) or "none (no exporter plugin is installed)"
    raise UsageError(f"unknown export format {name!r}; registered formats: {known}",
                     hint="run 'segctl export formats' to list formats and how to install them")


def resolve_chain(name: str, specs: Iterable) -> list:
    """Return the specs to export, dependencies first and ``name``'s own spec last.

    Raises :class:`UsageError` when ``name`` is unknown and :class:`PluginError` when a format's
    ``after=`` names an unregistered format or the declarations form a cycle.
    """
    specs = list(specs)
    table = spec_table(specs)
    target = find_exporter(name, specs)
    order: list = []
    done: set[str] = set()

    def visit(spec: Any, path: tuple[str, ...]) -> None:
        if spec.name in done:
            return
        if spec.name in path:
            cycle = " -> ".join((*path[path.index(spec.name):], spec.name))
            raise PluginError(f"export formats depend on each other in a cycle: {cycle}",
                              hint="fix the after= declarations of these exporter plugins")
        for dep in spec.after:
            dep_spec = table.get(dep.lower())
            if dep_spec is None:
                raise PluginError(
                    f"export format {spec.name!r} (plugin {spec.plugin or '?'}) builds on {dep!r}, "
                    f"which is not registered",
                    hint=f"install the plugin providing the {dep!r} exporter",
                )
            visit(dep_spec, (*path, spec.name))
        done.add(spec.name)
        order.append(spec)

    visit(target, ())
    return order
