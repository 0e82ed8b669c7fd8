"""The ``segctl`` command: a typer app assembled from the registered plugins.

Start-up stays light: the session loads only entry-point modules (which import nothing heavy) and
each command imports its implementation when it runs. User mistakes (``SegctlError``) become one
rich panel and an exit code (usage 2, missing dependency 3, plugin 4, runtime 1); ``--debug`` shows
the traceback.
"""
from __future__ import annotations

import os
import sys

import typer

from .._version import __version__
from ..errors import SegctlError, UsageError

EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": ["-h", "--help"]}


def _pre_parse(argv: list[str]):
    """Pull the global options out of argv before typer sees them (they shape the session)."""
    rest, disabled, debug, strict = [], [], False, None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-p" and i + 1 < len(argv):
            val = argv[i + 1]
            i += 2
            if val.startswith("no:"):
                disabled.append(val[3:])
            continue
        if a.startswith("-p") and len(a) > 2 and a[2:].startswith("no:"):
            disabled.append(a[5:])
        elif a == "--debug":
            debug = True
        elif a == "--strict-plugins":
            strict = True
        else:
            rest.append(a)
        i += 1
    return rest, disabled, debug, strict


def build_app(session) -> typer.Typer:
    app = typer.Typer(name="segctl", add_completion=False, no_args_is_help=True, rich_markup_mode="rich",
                      help="segctl: plugin-based real-time instance segmentation (YOLOv8-seg family).\n\n"
                           "Global options: -p no:NAME (disable a plugin), --strict-plugins, --debug.")

    @app.command("version", help="Print the versions of segctl, its plugins and key runtimes.")
    def version_cmd():
        from importlib.metadata import PackageNotFoundError, version

        from .render import console

        out = console()
        out.print(f"segctl {__version__}")
        for r in session.records:
            out.print(f"  {r.name}: {r.dist} {r.version} [{r.status}]")
        for pkg in ("torch", "torchvision", "onnx", "onnxruntime"):
            try:
                out.print(f"  {pkg} {version(pkg)}")
            except PackageNotFoundError:
                pass

    @app.command("plugins", help="List plugins: name, distribution, version, what they provide, status.")
    def plugins_cmd(json: bool = typer.Option(False, "--json", help="machine-readable output")):
        from .plugins_cmd import show_plugins

        show_plugins(session, as_json=json)

    @app.command("cfg", help="Print a task's configuration keys with defaults (YAML).")
    def cfg_cmd(task: str = typer.Argument("segment"), mode: str = typer.Option("", help="only keys of this mode")):
        from .render import console

        schema = session.schema(task)
        lines = [f"# segctl {task} configuration (defaults); use as cfg=file.yaml or KEY=VALUE"]
        import yaml

        for opt in schema.options.values():
            if mode and mode not in opt.modes:
                continue
            val = yaml.safe_dump({opt.name: opt.default}, default_flow_style=True).strip()[1:-1]
            lines.append(f"{val:<32} # {opt.help} [{', '.join(opt.modes)}]")
        console().print("\n".join(lines), markup=False, highlight=False)

    fmts = ", ".join(session.registry.names("exporters")) or "none installed"

    @app.command("export", context_settings=EXTRA,
                 help=f"Export a model: segctl export model=best.pt format=onnx (or --model/--format). "
                      f"'segctl export formats' lists formats. Formats: {fmts}.")
    def export_cmd(ctx: typer.Context):
        from .export_cmd import run_export

        run_export(session, list(ctx.args))

    @app.command("benchmark", context_settings=EXTRA,
                 help="Export to every available format, verify, validate and time: segctl benchmark model=best.pt data=...")
    def benchmark_cmd(ctx: typer.Context):
        from ..config import parse_cli_args
        from ..export.benchmark import run_benchmark_cli

        run_benchmark_cli(session, parse_cli_args(ctx.args, ["half", "int8", "verbose"]))

    for task in session.task_names():
        spec = session.registry.find("tasks", task)
        group = typer.Typer(help=f"{spec.description or task}. Modes: {', '.join(spec.modes)}, info.",
                            no_args_is_help=True)

        for mode in tuple(spec.modes) + ("info",):
            def _make(task=task, mode=mode):
                def cmd(ctx: typer.Context):
                    from .task_cmd import run_task

                    run_task(session, task, mode, list(ctx.args))
                return cmd

            group.command(mode, context_settings=EXTRA,
                          help=f"segctl {task} {mode} [KEY=VALUE ...] (see 'segctl cfg {task}')")(_make())
        app.add_typer(group, name=task)

    for spec in session.registry.all("commands"):
        try:
            target = spec.load()
        except SegctlError as e:
            session.registry.errors[spec.plugin] = str(e)
            continue
        if spec.group:
            app.add_typer(target, name=spec.name)
        else:
            app.command(spec.name)(target)
    return app


def main(argv: list[str] | None = None) -> int:
    from ..threads import prefer_sleeping_threads

    prefer_sleeping_threads()  # before torch loads (see segctl.threads)
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, disabled, debug, strict = _pre_parse(argv)
    debug = debug or os.environ.get("SEGCTL_DEBUG", "") not in ("", "0")
    from .render import print_error

    try:
        from ..session import Session

        session = Session.create(disabled=disabled, strict=strict)
        app = build_app(session)
        cmd = typer.main.get_command(app)
        try:
            cmd.main(args=argv, prog_name="segctl", standalone_mode=False)
        except typer.Exit as e:  # click.exceptions.Exit
            return int(e.exit_code or 0)
        except typer.Abort:
            print("Aborted.", file=sys.stderr)
            return 130
        except SegctlError:
            raise
        except Exception as e:  # click's usage errors (typer vendors click: duck-type them)
            if hasattr(e, "show") and hasattr(e, "exit_code"):
                e.show()
                return int(e.exit_code or 2)
            raise
        return 0
    except SegctlError as e:
        if debug:
            import traceback

            traceback.print_exc()
        print_error(e)
        return e.exit_code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - unexpected: a bug; show it, with traceback under --debug
        if debug:
            raise
        print_error(SegctlError(f"unexpected {type(e).__name__}: {e}",
                                hint="this is likely a bug in segctl or a plugin; rerun with --debug and report it"))
        return 1


if __name__ == "__main__":  # python -m segctl.cli.main
    sys.exit(main())
