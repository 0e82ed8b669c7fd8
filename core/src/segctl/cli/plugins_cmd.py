"""``segctl plugins``: what is installed, what it provides, and what failed (never imports torch)."""
from __future__ import annotations

import json

from rich.table import Table

from ..session import Session
from .render import console

_STYLE = {"ok": "green", "blocked": "yellow", "failed": "red", "duplicate": "red"}


def plugins_report(session: Session) -> dict:
    reg = session.registry
    plugins = [r.to_dict() for r in session.records]
    for p in plugins:
        for kind, names in p["provides"].items():
            missing = []
            for n in names:
                spec = reg.find(kind, n)
                if spec is not None and spec.plugin == p["name"] and spec.missing():
                    missing.append(f"{n} (needs {', '.join(spec.missing())}: {spec.install_hint()})")
            if missing:
                p.setdefault("missing_deps", []).extend(missing)
    return {"plugins": plugins,
            "conflicts": [{"kind": c.kind, "name": c.name, "providers": [s.plugin for s in c.providers],
                           "kept": c.kept.plugin if c.kept else None} for c in reg.conflicts],
            "errors": reg.errors}


def show_plugins(session: Session, as_json: bool = False) -> None:
    report = plugins_report(session)
    out = console()
    if as_json:
        out.print_json(json.dumps(report))
        return
    table = Table(title="segctl plugins", show_lines=False)
    for col in ("name", "distribution", "version", "provides", "status"):
        table.add_column(col, overflow="fold")
    for p in report["plugins"]:
        provides = "\n".join(f"{k}: {', '.join(v)}" for k, v in sorted(p["provides"].items()))
        status = f"[{_STYLE.get(p['status'], 'white')}]{p['status']}[/]"
        if p["error"]:
            status += f"\n{p['error']}"
        if p.get("missing_deps"):
            status += "\n[yellow]missing deps:[/] " + "; ".join(p["missing_deps"])
        table.add_row(p["name"], p["distribution"], p["version"], provides, status)
    out.print(table)
    for c in report["conflicts"]:
        kept = f"kept {c['kept']}" if c["kept"] else "unusable until you choose (SEGCTL_PREFER)"
        out.print(f"[yellow]conflict:[/] {c['kind']} '{c['name']}' from {', '.join(c['providers'])}: {kept}")
