"""Tracker configuration: packaged defaults overlaid with the user's keys, validated.

Why strict: a misspelt key in a tracker YAML (``track_bufer: 60``) would otherwise be ignored and
the user would tune a value that never takes effect. Unknown keys get a did-you-mean; values must
have the type of their default (an int is accepted where a float is expected).
"""
from __future__ import annotations

import difflib
from pathlib import Path

import yaml

from segctl.errors import ConfigError

CFG_DIR = Path(__file__).parent / "cfg"


def defaults(name: str) -> dict:
    """The packaged defaults of tracker ``name`` (``cfg/<name>.yaml``)."""
    return yaml.safe_load((CFG_DIR / f"{name}.yaml").read_text(encoding="utf-8")) or {}


def merge(name: str, user: dict | None) -> dict:
    """``defaults(name)`` updated with ``user``; raises :class:`ConfigError` on an unknown key or a
    value of the wrong type, naming the key and the tracker."""
    base = defaults(name)
    out = dict(base)
    for key, value in (user or {}).items():
        if key not in base:
            guess = difflib.get_close_matches(str(key), list(base), n=1)
            raise ConfigError(f"tracker '{name}': unknown key '{key}'" + (f", did you mean '{guess[0]}'?" if guess else ""),
                              hint=f"keys of {name}: {', '.join(sorted(base))} (docs/track.md)")
        want = base[key]
        ok = (isinstance(value, bool) if isinstance(want, bool)
              else isinstance(value, (int, float)) and not isinstance(value, bool) if isinstance(want, (int, float))
              else isinstance(value, type(want)))
        if not ok:
            raise ConfigError(f"tracker '{name}': '{key}' must be {type(want).__name__}, not {value!r}",
                              hint=f"default: {key}: {want}")
        out[key] = value
    if not 0.0 <= float(out.get("mask_iou", 0.0)) <= 1.0:
        raise ConfigError(f"tracker '{name}': mask_iou must be within 0..1, not {out['mask_iou']}")
    return out
