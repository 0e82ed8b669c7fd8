"""Read Ultralytics ``.pt`` files (pickles of their classes) without executing any code.

How (see docs/security.md): the pickle's globals are listed first, statically,
and anything outside a fixed allow-list is refused before a byte is unpickled. Allowed class names
are mapped to *inert stand-ins* through ``torch.serialization.safe_globals`` and the file is read
with ``torch.load(weights_only=True)``. Module pickles only use NEWOBJ (``cls.__new__``) and BUILD
(``__setstate__``), so a stand-in never needs its ``__init__``: ours raises, which turns a REDUCE
disguised under an allowed name into a refusal. The stand-ins have no ``forward``; we only walk
their ``_parameters``/``_buffers``/``_modules`` (iteratively, with a visited set) to extract a
state dict, then segctl rebuilds its own model from the checkpoint's ``yaml``.
"""
from __future__ import annotations

import pickle
import re
import struct
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath, PureWindowsPath

import torch
from torch import nn

from segctl import __version__
from segctl.errors import CheckpointError, UnsafeCheckpointError
from segctl.nn.checkpoint import SAFE_GLOBALS_LOCK

_MODULE_CLASSES = {
    "ultralytics.nn.tasks": ("SegmentationModel", "DetectionModel", "BaseModel"),
    "ultralytics.nn.modules.conv": ("Conv", "Concat"),
    "ultralytics.nn.modules.block": ("C2f", "Bottleneck", "SPPF", "DFL", "Proto"),
    "ultralytics.nn.modules.head": ("Segment", "Detect"),
    # ultralytics 8.0.x kept every layer in one module
    "ultralytics.nn.modules": ("Conv", "Concat", "C2f", "Bottleneck", "SPPF", "DFL", "Proto", "Segment", "Detect"),
    "torch.nn.modules.activation": ("SiLU",),
    "torch.nn.modules.batchnorm": ("BatchNorm2d",),
    "torch.nn.modules.container": ("ModuleList", "Sequential"),
    "torch.nn.modules.conv": ("Conv2d", "ConvTranspose2d"),
    "torch.nn.modules.pooling": ("MaxPool2d",),
    "torch.nn.modules.upsampling": ("Upsample",),
    "torch.nn.modules.linear": ("Identity",),
}
MAX_MODULES = 100_000


class _DisguisedCall(Exception):
    """A pickle tried to *call* an allowed class (REDUCE) instead of rebuilding it."""


class _Malformed(Exception):
    """A BUILD state that no genuine checkpoint would contain."""


def _refuse_init(self, *args, **kwargs):
    raise _DisguisedCall(f"{type(self).__module__}.{type(self).__qualname__}")


def _checked_setstate(self, state):
    if not isinstance(state, dict):
        raise _Malformed(f"{type(self).__qualname__} state is a {type(state).__name__}, not a dict")
    if "__class__" in state or "__dict__" in state:
        raise _Malformed(f"{type(self).__qualname__} state tries to set __class__/__dict__")
    for key in ("_parameters", "_buffers", "_modules"):
        if key in state and not isinstance(state[key], dict):
            raise _Malformed(f"{type(self).__qualname__}.{key} is a {type(state[key]).__name__}")
    nn.Module.__setstate__(self, state)


def _module_stand_in(module: str, name: str) -> type:
    return type(name, (nn.Module,), {
        "__init__": _refuse_init, "__setstate__": _checked_setstate, "__module__": module, "__qualname__": name,
        "__doc__": f"Inert stand-in for {module}.{name}: holds state, runs nothing.",
    })


class InertRef:
    """What a pickled ``getattr(obj, name)`` (e.g. ``Detect.forward``) or ``dill`` type becomes."""

    def __init__(self, what: str):
        self.what = what

    def __repr__(self) -> str:
        return f"<inert {self.what}>"


def _inert_getattr(obj, name, *default):
    return InertRef(f"{getattr(obj, '__qualname__', type(obj).__name__)}.{name}")


def _inert_load_type(name):
    return InertRef(f"type {name}")


def _posix_path(*parts):
    return str(PurePosixPath(*(str(p) for p in parts)))


def _windows_path(*parts):
    return str(PureWindowsPath(*(str(p) for p in parts)))


class _NpDtype:
    """numpy dtype stand-in: records the type code and byte order (enough to decode scalars)."""

    def __init__(self, code="f8", align=False, copy=False):
        self.code, self.order = str(code), "<"

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "="):
            self.order = "<" if state[1] in ("|", "=") else state[1]


_NP_FORMATS = {"f8": "d", "f4": "f", "f2": "e", "i8": "q", "i4": "i", "i2": "h", "i1": "b",
               "u8": "Q", "u4": "I", "u2": "H", "u1": "B", "b1": "?"}


def _np_scalar(dtype, data=b""):
    fmt = _NP_FORMATS.get(getattr(dtype, "code", ""))
    if fmt is None or not isinstance(data, (bytes, bytearray)) or len(data) != struct.calcsize(fmt):
        return InertRef("numpy scalar")
    return struct.unpack(getattr(dtype, "order", "<") + fmt, bytes(data))[0]


def _stand_ins() -> dict[str, object]:
    out: dict[str, object] = {}
    for module, names in _MODULE_CLASSES.items():
        for name in names:
            out[f"{module}.{name}"] = _module_stand_in(module, name)
    out["builtins.getattr"] = _inert_getattr
    out["dill._dill._load_type"] = _inert_load_type
    for p in ("PosixPath", "WindowsPath", "Path", "PurePosixPath", "PureWindowsPath"):
        out[f"pathlib.{p}"] = out[f"pathlib._local.{p}"] = _windows_path if "Windows" in p else _posix_path
    for np_mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[f"{np_mod}.scalar"] = _np_scalar
    out["numpy.dtype"] = _NpDtype
    return out


STAND_INS = _stand_ins()


def is_ultralytics(unsafe_globals) -> bool:
    """Whether the listed globals look like an Ultralytics checkpoint (so this reader answers)."""
    return any(str(g).startswith("ultralytics.") for g in unsafe_globals)


def stand_ins_for(extra_classes: dict[str, tuple[str, ...]] | None = None) -> dict[str, object]:
    """The allow-list: YOLOv8's stand-ins plus inert module stand-ins for ``{module: (class, ...)}``.

    Other architecture plugins (YOLO11) read the same file format with more layer classes; they pass
    those names here rather than widening the allow-list for every caller."""
    if not extra_classes:
        return STAND_INS
    out = dict(STAND_INS)
    for module, names in extra_classes.items():
        for name in names:
            out.setdefault(f"{module}.{name}", _module_stand_in(module, name))
    return out


def read_ultralytics(path: str | Path, extra_classes: dict[str, tuple[str, ...]] | None = None) -> dict:
    """Load an Ultralytics ``.pt`` as a plain segctl checkpoint dict (see docs/contracts.md).

    ``extra_classes`` (``{module: (class, ...)}``) adds layer classes to the allow-list (see
    :func:`stand_ins_for`); they get the same inert module stand-ins as YOLOv8's."""
    path = Path(path)
    allowed = stand_ins_for(extra_classes)
    with SAFE_GLOBALS_LOCK:
        try:
            found = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
        except Exception as e:  # damaged archive: torch raises bare RuntimeError/ValueError
            raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({e})") from e
        refused = [g for g in found if g not in allowed]
        if refused:
            raise UnsafeCheckpointError(
                f"{path}: refused, it references code outside the allow-list: {', '.join(refused[:8])}"
                + (f" (+{len(refused) - 8} more)" if len(refused) > 8 else ""),
                hint="nothing was executed; only genuine YOLOv8 checkpoints are accepted",
            )
        pairs = [(obj, name) for name, obj in allowed.items()]
        try:
            with torch.serialization.safe_globals(pairs):
                obj = torch.load(path, map_location="cpu", weights_only=True)
        except _DisguisedCall as e:
            raise UnsafeCheckpointError(f"{path}: refused, the pickle tries to call {e} (a disguised payload)",
                                        hint="nothing was executed; this file was crafted") from None
        except _Malformed as e:
            raise CheckpointError(f"{path}: malformed checkpoint structure ({e})") from None
        except pickle.UnpicklingError as e:
            text = str(e).split("WeightsUnpickler error:", 1)[-1]
            lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "documentation of torch.load" not in ln]
            raise UnsafeCheckpointError(f"{path}: refused, the pickle does something not allowed: "
                                        f"{lines[0] if lines else text.strip()[:200]}",
                                        hint="nothing was executed") from None
        except RecursionError:
            raise CheckpointError(f"{path}: malformed checkpoint structure (nesting too deep)") from None
        except Exception as e:
            raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({type(e).__name__}: {e})") from None
    return to_plain_checkpoint(obj, path)


# --------------------------------------------------------------------------- extraction


def _state_dict(root, path) -> tuple[dict, set]:
    """State dict of a stand-in module tree, plus the class names met (to tell the task).

    Iterative depth-first walk. Shared submodules are legitimate (Ultralytics shares one SiLU
    between all convs); a module that is its own ancestor (a cycle) is refused, and the total
    number of visits is capped so a crafted graph cannot explode."""
    out: dict[str, torch.Tensor] = {}
    classes: set[str] = set()
    on_path: set[int] = set()
    visits = 0
    stack: list = [(True, "", root)]
    while stack:
        enter, prefix, m = stack.pop()
        if not enter:
            on_path.discard(m)
            continue
        where = prefix.rstrip(".") or "root"
        if id(m) in on_path:
            raise CheckpointError(f"{path}: malformed checkpoint structure (cyclic module graph at {where})")
        visits += 1
        if visits > MAX_MODULES:
            raise CheckpointError(f"{path}: malformed checkpoint structure (more than {MAX_MODULES} modules)")
        d = getattr(m, "__dict__", None)
        if not isinstance(m, nn.Module) or not isinstance(d, dict):
            raise CheckpointError(f"{path}: malformed checkpoint structure ({where} is not a module)")
        classes.add(type(m).__qualname__)
        params, buffers, mods = d.get("_parameters", {}), d.get("_buffers", {}), d.get("_modules", {})
        skip = d.get("_non_persistent_buffers_set") or set()
        for group in (params, buffers, mods):
            if not isinstance(group, dict):
                raise CheckpointError(f"{path}: malformed checkpoint structure at {where}")
        for group in (params, buffers):
            for k, v in group.items():
                if v is None or (group is buffers and k in skip):
                    continue
                if not isinstance(k, str) or not isinstance(v, torch.Tensor):
                    raise CheckpointError(f"{path}: malformed checkpoint structure ({prefix}{k} is not a tensor)")
                out[prefix + k] = v.detach()
        on_path.add(id(m))
        stack.append((False, "", id(m)))
        for k, sub in reversed(list(mods.items())):
            if sub is not None:
                stack.append((True, f"{prefix}{k}.", sub))
    return out, classes


def _plain(obj, depth_limit: int = 64):
    """Copy into plain data (dict/list/str/numbers/tensors); inert refs become strings."""
    root: list = [None]
    stack = [(obj, root, 0, 0)]
    while stack:
        o, parent, key, depth = stack.pop()
        if depth > depth_limit:
            raise CheckpointError("malformed checkpoint structure (metadata nested too deeply)")
        if isinstance(o, dict):
            new: dict = {}
            for k, v in o.items():
                kk = k if isinstance(k, (str, int, float, bool)) else str(k)
                new[kk] = None
                stack.append((v, new, kk, depth + 1))
        elif isinstance(o, (list, tuple)):
            new = [None] * len(o)
            stack.extend((v, new, i, depth + 1) for i, v in enumerate(o))
        elif isinstance(o, (str, int, float, bool, type(None), torch.Tensor)):
            new = o
        else:
            new = str(o)
        parent[key] = new
    return root[0]


def _guess_scale(cfg: dict) -> None:
    if cfg.get("scale") or not cfg.get("scales"):
        return
    m = re.search(r"yolov\d+([nslmx])", Path(str(cfg.get("yaml_file", ""))).stem)
    if m and m.group(1) in cfg["scales"]:
        cfg["scale"] = m.group(1)


def to_plain_checkpoint(obj, path) -> dict:
    """Turn a loaded Ultralytics dict (stand-ins inside) into segctl's plain checkpoint dict."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: not an Ultralytics checkpoint (holds a {type(obj).__name__})")
    root = obj.get("ema") or obj.get("model")
    if not isinstance(root, nn.Module):
        raise CheckpointError(f"{path}: Ultralytics checkpoint without a model (neither 'ema' nor 'model')")
    sd, classes = _state_dict(root, path)
    attrs = root.__dict__
    cfg = _plain(attrs.get("yaml"))
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path}: Ultralytics checkpoint without its model 'yaml'",
                              hint="build the model from a YAML and use transfer_weights() instead")
    _guess_scale(cfg)
    if "channels" in cfg and "ch" not in cfg:
        cfg["ch"] = cfg["channels"]
    names = attrs.get("names")
    if isinstance(names, (list, tuple)):
        names = dict(enumerate(names))
    names = {int(k): str(v) for k, v in names.items()} if isinstance(names, dict) else {
        i: f"class{i}" for i in range(int(cfg.get("nc", 0)))}
    stride = attrs.get("stride")
    stride = [float(s) for s in stride.tolist()] if isinstance(stride, torch.Tensor) else [8.0, 16.0, 32.0]
    task = "segment" if "Segment" in classes else "detect"
    train_args = _plain(obj.get("train_args") or {})
    train_args = train_args if isinstance(train_args, dict) else {}
    imgsz = train_args.get("imgsz", 640)
    best = obj.get("best_fitness")
    return {
        "format": "segctl", "format_version": 1, "segctl_version": __version__,
        "date": str(obj.get("date") or datetime.now(timezone.utc).isoformat(timespec="seconds")),
        "task": task, "yaml": cfg, "names": names, "stride": stride,
        "imgsz": int(imgsz) if isinstance(imgsz, (int, float)) else 640,
        "model": sd, "ema": None, "updates": int(obj.get("updates") or 0) if isinstance(obj.get("updates"), int) else 0,
        "optimizer": None, "scheduler": None, "scaler": None, "rng": None,
        "epoch": obj.get("epoch") if isinstance(obj.get("epoch"), int) else -1,
        "best_fitness": float(best) if isinstance(best, (int, float)) else None,
        "train_args": train_args, "train_metrics": _plain(obj.get("train_metrics") or {}),
    }
