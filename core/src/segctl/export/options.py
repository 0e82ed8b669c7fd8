"""Validate export options against what the chosen format supports.

Why strict: the reference silently ignores options a format does not support, so a user asking
for ``half=True`` on a format without fp16 ships an fp32 model without knowing. Here an option the
format does not declare is an error naming the options it does support (a key merely repeated at
its default value is accepted, so a full default configuration can be passed through).
"""
from __future__ import annotations

import difflib
from typing import Any

from ..errors import MissingDependencyError, UsageError

#: keys every export accepts, whatever the format
#: (``end2end`` is a property of the model, not of the format: see :func:`segctl.export.run.use_end2end`)
COMMON: tuple[str, ...] = ("format", "model", "output", "verify", "end2end")

#: every export option segctl knows, with its default
DEFAULTS: dict[str, Any] = {
    "imgsz": 640, "batch": 1, "half": False, "int8": False, "dynamic": False, "simplify": True,
    "opset": None, "nms": False, "optimize": False, "keras": False, "workspace": None, "data": None,
    "fraction": 1.0, "device": "cpu", "conf": 0.25, "iou": 0.7, "max_det": 300, "retina_masks": False,
    "output": None, "verify": True, "end2end": False,
}

_BOOLS = ("half", "int8", "dynamic", "simplify", "nms", "optimize", "keras", "retina_masks", "end2end")


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise UsageError(f"export option {key}={value!r} must be true or false")


def _int(key: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).lstrip("-").isdigit():
        raise UsageError(f"export option {key}={value!r} must be an integer")
    if int(value) < low:
        raise UsageError(f"export option {key}={value!r} must be >= {low}")
    return int(value)


def _float01(key: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"export option {key}={value!r} must be a number") from None
    if not 0.0 <= out <= 1.0:
        raise UsageError(f"export option {key}={value!r} must be between 0 and 1")
    return out


def imgsz_pair(value: Any) -> list[int]:
    """``640`` / ``[640]`` / ``[480, 640]`` / ``"480,640"`` → ``[h, w]``."""
    if isinstance(value, str):
        value = [v for v in value.replace("x", ",").strip("[]() ").split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        if len(value) not in (1, 2):
            raise UsageError(f"export option imgsz={value!r} must be one size or [height, width]")
        sizes = [_int("imgsz", v) for v in value]
        return sizes * 2 if len(sizes) == 1 else sizes
    size = _int("imgsz", value)
    return [size, size]


def _verify_mode(value: Any) -> str:
    if value in (True, None) or str(value).lower() in ("true", "fail", "1"):
        return "fail"
    if str(value).lower() == "warn":
        return "warn"
    if value is False or str(value).lower() in ("false", "off", "0"):
        return "off"
    raise UsageError(f"export option verify={value!r} must be true (fail), 'warn' or false")


def validate(spec: Any, args: dict) -> dict:
    """Return ``args`` checked against ``spec.options`` with defaults filled in and values typed.

    Raises :class:`UsageError` for an unknown key (with a did-you-mean), for a key the format does
    not support (listing the ones it does) and for a malformed value.
    """
    supported = tuple(spec.options)
    allowed = set(COMMON) | set(supported)
    out: dict[str, Any] = {}
    for key, value in args.items():
        if key not in DEFAULTS and key not in COMMON:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            raise UsageError(
                f"unknown export option {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                hint=f"format {spec.name!r} supports: {', '.join(supported) or 'no options'}",
            )
        if key not in allowed and value != DEFAULTS.get(key):
            raise UsageError(
                f"export format {spec.name!r} does not support option {key!r}",
                hint=f"format {spec.name!r} supports: {', '.join(supported) or 'no options'}",
            )
        out[key] = value
    for key in supported:
        out.setdefault(key, DEFAULTS.get(key))
    for key in ("half", "int8", "nms", "dynamic"):  # read by the core even if a format lacks them
        out.setdefault(key, False)
    out.setdefault("imgsz", DEFAULTS["imgsz"])
    out.setdefault("batch", 1)
    out.setdefault("device", "cpu")
    for key in _BOOLS:
        if key in out and out[key] is not None:
            out[key] = _bool(key, out[key])
    out["imgsz"] = imgsz_pair(out["imgsz"])
    out["batch"] = _int("batch", out["batch"])
    for key in ("max_det",):
        if key in out:
            out[key] = _int(key, out[key])
    if out.get("opset") is not None:
        out["opset"] = _int("opset", out["opset"], low=7)
    for key in ("conf", "iou", "fraction"):
        if key in out and out[key] is not None:
            out[key] = _float01(key, out[key])
    out["verify"] = _verify_mode(out.get("verify", True))
    out["device"] = str(out["device"] if out["device"] is not None else "cpu")
    if out["half"] and out["int8"]:
        raise UsageError("export options half=True and int8=True exclude each other", hint="choose one precision")
    return out


def check_available(spec: Any) -> None:
    """Raise :class:`MissingDependencyError` (exit 3) with the exact install command when the
    format's runtime packages are missing. Nothing is ever installed at run time."""
    missing = spec.missing()
    if missing:
        raise MissingDependencyError(
            f"export format {spec.name!r} needs {', '.join(missing)}, which is not installed",
            hint=spec.install_hint(),
        )
