"""The session: one plugin manager, its registries and the helpers commands share.

Nothing is global: every CLI invocation, every ``Model`` and every test makes (or is given) its
own session, so tests can run with exactly the plugins they name.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from .config import Schema
from .errors import DataError, UsageError
from .manager import PluginRecord, load_plugins, new_plugin_manager
from .registry import Registry


class Session:
    """Plugin manager + registry. Create with :meth:`create`."""

    def __init__(self, pm, records: list[PluginRecord]):
        self.pm = pm
        self.records = records
        self.settings: dict[str, Any] = {}

    @classmethod
    def create(cls, *, disabled=(), only=(), strict=None, autoload=None, extra=()) -> "Session":
        pm = new_plugin_manager()
        records = load_plugins(pm, disabled=disabled, only=only, strict=strict, autoload=autoload, extra=extra)
        session = cls(pm, records)
        pm.hook.segctl_add_hookspecs.call_historic(kwargs={"pm": pm})
        pm.hook.segctl_configure.call_historic(kwargs={"session": session})
        return session

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.pm, self.records)

    # ------------------------------------------------------------------ tasks
    def task_names(self) -> list[str]:
        return self.registry.names("tasks")

    def schema(self, task: str) -> Schema:
        spec = self.registry.get("tasks", task)
        from .specs import load_target

        return Schema(load_target(spec.schema, who=f"schema of task '{task}'"))

    def task(self, name: str):
        """An instance of the task's implementation class."""
        return self.registry.get("tasks", name).load()()

    def emit(self, hook: str, **kwargs) -> None:
        """Call a lifecycle hook (``on_train_start`` ...); errors name the plugin that raised."""
        caller = getattr(self.pm.hook, "segctl_" + hook)
        for impl in reversed(caller.get_hookimpls()):
            try:
                impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception as e:  # noqa: BLE001 - re-raised with attribution
                from .errors import PluginError

                rec = next((r for r in self.records if r.name == impl.plugin_name), None)
                who = f"{impl.plugin_name}" + (f" ({rec.dist} {rec.version})" if rec else "")
                raise PluginError(f"plugin {who} failed in segctl_{hook}: {type(e).__name__}: {e}") from e

    # ------------------------------------------------------------------ data
    def resolve_uri(self, uri: str, kind: str) -> str | None:
        return self.pm.hook.segctl_resolve_uri(uri=uri, kind=kind, session=self)

    def resolve_data(self, data: str | Path | None):
        """``data=`` → ``(data_cfg, format_object)``.

        Accepts a registered dataset name (``shapes-seg``), a dataset YAML, a COCO JSON, a folder,
        or anything a ``segctl_resolve_uri`` plugin can turn into one of those.
        """
        import yaml

        if data is None or data == "":
            raise UsageError("no dataset given", hint="pass data=path/to/data.yaml (or data=shapes-seg for the demo set)")
        text = str(data)
        named = self.registry.find("datasets", Path(text).stem if text.endswith((".yaml", ".yml")) else text)
        if named is not None and not Path(text).exists():
            text = str(named.load()(None))
        elif not Path(text).exists():
            resolved = self.resolve_uri(text, "dataset")
            if resolved:
                text = resolved
        path = Path(text)
        if not path.exists():
            raise DataError(f"dataset not found: {text}",
                            hint="give a dataset YAML, a COCO JSON or a folder; named datasets: "
                                 + (", ".join(self.registry.names("datasets")) or "none"))
        parsed = None
        if path.suffix in (".yaml", ".yml"):
            try:
                parsed = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
            except yaml.YAMLError as e:
                raise DataError(f"dataset YAML {path} is not valid YAML: {e}") from e
            if not isinstance(parsed, dict):
                raise DataError(f"dataset YAML {path} must be a mapping with path/train/val/names keys")
        fmt_name = parsed.get("format") if isinstance(parsed, dict) and parsed.get("format") else None
        fmt_name = fmt_name or self.pm.hook.segctl_detect_dataset(path=path, data=parsed)
        if fmt_name is None:
            raise DataError(f"cannot tell which dataset format {path} is",
                            hint="formats installed: " + ", ".join(self.registry.names("dataset_formats"))
                                 + "; add 'format: <name>' to the dataset YAML")
        fmt = self.registry.get("dataset_formats", fmt_name).load()
        if isinstance(fmt, type):
            fmt = fmt()
        cfg = fmt.check_config(parsed, path)
        cfg.setdefault("format", fmt_name)
        cfg.setdefault("yaml_file", str(path))
        return cfg, fmt
