"""``segctl export ...`` and ``segctl export formats``."""
from __future__ import annotations

from rich.table import Table

from ..config import parse_cli_args
from ..errors import UsageError
from ..session import Session
from .render import console


def formats_table(session: Session) -> Table:
    """One row per registered exporter: where it runs (this environment, or the interpreter named by
    ``SEGCTL_PYTHON_<FORMAT>`` / ``formats.yaml``), whether it is available there, or the command
    that makes it available."""
    from ..export.environments import probe, where

    table = Table(title="export formats")
    for col in ("format", "argument", "suffix", "builds on", "environment", "available", "install / reason"):
        table.add_column(col, overflow="fold")
    for spec in sorted(session.registry.all("exporters"), key=lambda s: s.name):
        python, source = where(spec.name)
        if python:
            found = probe(python, spec.name)
            missing = [found["error"]] if found.get("error") else found.get("missing", [])
            install = found.get("install") or ("make that interpreter run segctl, or unset " + source
                                               if found.get("error") else "")
            env = f"{python} ({source})"
        else:
            missing, install, env = spec.missing(), spec.install_hint(), "here"
        note = spec.description if spec.description.startswith("not available") else ""
        hint = f"needs {', '.join(missing)}: " + install.replace("  # ", " (") + (")" if "  # " in install else "") \
            if missing else ""
        table.add_row(spec.name, f"format={spec.name}", spec.suffix, ", ".join(spec.after) or "-", env,
                      "[red]no[/]" if missing or note else "[green]yes[/]", note or hint)
    return table


def run_export(session: Session, tokens: list[str]) -> str:
    if tokens[:1] == ["formats"]:
        console().print(formats_table(session))
        return ""
    task = "segment" if "segment" in session.task_names() else session.task_names()[0]
    schema = session.schema(task)
    args = parse_cli_args(tokens, schema.bool_keys())
    if "task" in args:
        task = str(args.pop("task"))
        schema = session.schema(task)
    args = schema.validate(args)
    model = args.pop("model", None)
    if not model:
        raise UsageError("export needs model=PATH", hint="e.g. segctl export model=best.pt format=onnx")
    fmt = args.get("format") or "torchscript"
    session.registry.get("exporters", fmt)  # unknown format → did-you-mean error before any work
    from ..export import export

    path = export(model, session, **args)
    console().print(f"[green]exported[/] {path}")
    return str(path)
