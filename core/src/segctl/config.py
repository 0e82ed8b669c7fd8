"""Configuration: typed options owned by tasks, layered merging, and command-line parsing.

The core owns no keys of its own: each task publishes a list of :class:`Option` (its schema) in a
light module, and the core only merges layers (defaults < ``cfg=`` file < command line) and
validates them. Values given as text are parsed as YAML scalars or flow lists with
``yaml.safe_load`` (never ``eval``), so ``epochs=3``, ``lr0=1e-3``, ``classes=[0,2]`` and
``exist_ok=true`` mean what they look like.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

from .errors import ConfigError

_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


@dataclass(frozen=True)
class Option:
    """One configuration key.

    ``type`` is a ``|``-separated list of ``int float bool str list`` (``list`` = list of scalars,
    also accepted as ``a,b``); ``nullable`` allows ``None``; ``choices`` restricts string values;
    ``modes`` says where the key applies (for ``segctl cfg`` and the docs).
    """

    name: str
    default: Any
    type: str
    help: str
    modes: tuple[str, ...] = ("train", "val", "predict", "export")
    nullable: bool = False
    choices: tuple[str, ...] = ()

    def accepts(self) -> list[str]:
        return self.type.split("|")

    def coerce(self, value: Any) -> Any:
        """Return ``value`` converted to this option's type, or raise :class:`ConfigError`."""
        if value is None:
            if self.nullable or self.default is None:
                return None
            raise self._bad(value)
        kinds = self.accepts()
        if isinstance(value, str) and "list" in kinds and "," in value and "str" not in kinds:
            value = [parse_scalar(v) for v in value.split(",") if v.strip()]
        for kind in kinds:
            if kind == "bool" and isinstance(value, bool):
                return value
            if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
                return value
            if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            if kind == "list" and isinstance(value, (list, tuple)):
                if all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in value):
                    return list(value)
            if kind == "str" and isinstance(value, (str, int, float)) and not isinstance(value, bool):
                sval = str(value)
                if self.choices and sval not in self.choices:
                    continue
                return sval
        raise self._bad(value)

    def _bad(self, value) -> ConfigError:
        expected = " or ".join(self.accepts()) + (" or null" if self.nullable else "")
        guess = ""
        if self.choices:
            expected += f" (one of: {', '.join(self.choices)})"
            import difflib

            close = difflib.get_close_matches(str(value), self.choices, n=1)
            guess = f" -- did you mean {close[0]!r}?" if close else ""
        return ConfigError(f"invalid value for '{self.name}': {value!r} ({type(value).__name__}); expected {expected}{guess}",
                           hint=f"{self.name}: {self.help}")


def parse_scalar(text: str) -> Any:
    """Parse one command-line value as YAML (scalar or flow list); fall back to the raw string."""
    text = text.strip()
    if text == "":
        return ""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str) and value == text:
        for conv in (int, float):  # YAML 1.1 reads 1e-3 as text; users mean a number
            try:
                return conv(text)
            except ValueError:
                pass
    if isinstance(value, dict):
        return text
    return value


def parse_cli_args(tokens: Iterable[str], bool_keys: Iterable[str] = ()) -> dict[str, Any]:
    """Parse ``key=value``, ``--key value``, ``--key=value``, bare ``--flag`` / ``flag`` tokens.

    Bare words and ``--flag`` without a value set boolean options to ``True`` (``bool_keys``);
    ``--no-flag`` sets them to ``False``. Keys may use ``-`` or ``_``.
    """
    bool_keys = set(bool_keys)
    out: dict[str, Any] = {}
    toks = list(tokens)
    i = 0
    while i < len(toks):
        tok = toks[i]
        i += 1
        if tok.startswith("--"):
            body = tok[2:]
            if "=" in body:
                k, v = body.split("=", 1)
                out[_norm(k)] = parse_scalar(v)
                continue
            k = _norm(body)
            if k.startswith("no_") and k[3:] in bool_keys:
                out[k[3:]] = False
            elif k in bool_keys and (i >= len(toks) or toks[i].startswith("--") or "=" in toks[i]
                                     or parse_scalar(toks[i]) not in (True, False)):
                out[k] = True
            elif i < len(toks):
                out[k] = parse_scalar(toks[i])
                i += 1
            else:
                raise ConfigError(f"option '--{body}' needs a value", hint=f"write --{body} VALUE or {k}=VALUE")
        elif "=" in tok:
            k, v = tok.split("=", 1)
            if not k:
                raise ConfigError(f"malformed argument {tok!r}", hint="write KEY=VALUE")
            out[_norm(k)] = parse_scalar(v)
        else:
            k = _norm(tok)
            if k in bool_keys:
                out[k] = True
            else:
                raise ConfigError(f"unexpected argument {tok!r}",
                                  hint="arguments are KEY=VALUE (e.g. epochs=10), --key value, or a bare boolean flag")
    return out


def _norm(key: str) -> str:
    return key.strip().replace("-", "_")


def load_cfg_file(path: str | Path) -> dict[str, Any]:
    """Read a ``cfg=`` YAML file (mapping of keys to values)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"cfg file not found: {p}", hint="cfg= takes the path of a YAML file with KEY: VALUE lines")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8-sig")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"cfg file {p} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"cfg file {p} must hold a mapping of KEY: VALUE, not {type(data).__name__}")
    return data


class Schema:
    """A task's options by name, with validation and layered resolution."""

    def __init__(self, options: Iterable[Option]):
        self.options = {o.name: o for o in options}

    def defaults(self) -> dict[str, Any]:
        return {k: o.default for k, o in self.options.items()}

    def bool_keys(self) -> list[str]:
        return [k for k, o in self.options.items() if "bool" in o.accepts()]

    def check_key(self, key: str) -> Option:
        opt = self.options.get(key)
        if opt is None:
            guess = difflib.get_close_matches(key, list(self.options), n=3, cutoff=0.6)
            raise ConfigError(
                f"unknown key '{key}'" + (f", did you mean '{guess[0]}'?" if guess else ""),
                hint="valid keys: " + ", ".join(sorted(self.options)))
        return opt

    def validate(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: self.check_key(k).coerce(v) for k, v in values.items()}

    def resolve(self, *layers: dict[str, Any]) -> dict[str, Any]:
        """Merge ``layers`` over the defaults (later wins); a ``cfg`` key loads a file layer first."""
        merged = self.defaults()
        for layer in layers:
            layer = dict(layer)
            cfg_path = layer.pop("cfg", None)
            if cfg_path:
                merged.update(self.validate(load_cfg_file(cfg_path)))
            merged.update(self.validate(layer))
        return merged
