"""Rich rendering shared by the CLI commands: one console per stream, error panels."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.panel import Panel

from ..errors import SegctlError


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def error_panel(err: SegctlError) -> Panel:
    body = f"[bold]{err.message}[/bold]"
    if err.hint:
        body += f"\n[dim]hint:[/dim] {err.hint}"
    body += "\n[dim]run with --debug for the full traceback[/dim]"
    return Panel(body, title=f"[red]{err.title}[/red]", border_style="red", expand=False)


def print_error(err: SegctlError) -> None:
    console(stderr=True).print(error_panel(err))


def is_tty() -> bool:
    return sys.stdout.isatty()
