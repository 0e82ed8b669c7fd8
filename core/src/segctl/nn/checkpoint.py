"""segctl checkpoints: plain-data dicts saved atomically, loaded without executing code.

Why plain data: a ``.pt`` that holds only dicts, lists, strings, numbers and tensors loads with
``torch.load(weights_only=True)`` and an *empty* allow-list, so opening a model file can never run
code. Why atomic: a process killed mid-save must leave the previous file intact (temp file in the
same directory, fsync, ``os.replace``). Foreign formats (Ultralytics pickles) are handed to the
``segctl_read_checkpoint`` hook through ``read_foreign``; this module never guesses at them.

Each way a file can be unreadable has its own message (empty, truncated zip, image, TorchScript,
legacy tar, raw pickle, unsafe globals) so users know what they are holding.
"""
from __future__ import annotations

import copy
import json
import os
import struct
import tempfile
import threading
import zipfile
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

import torch

from .._version import __version__
from ..errors import CheckpointError, SegctlError, UnsafeCheckpointError, UsageError
from .safetensors_io import read_safetensors, write_safetensors

SAFE_GLOBALS_LOCK = threading.RLock()
"""``torch.serialization.safe_globals`` is process-wide: every load that lists or extends the
allow-list holds this lock (the Ultralytics reader too) so threads never see each other's stand-ins."""

FORMAT_VERSION = 1
CHECKPOINT_KEYS = (
    "format", "format_version", "segctl_version", "date", "task", "yaml", "names", "stride", "imgsz",
    "model", "ema", "updates", "optimizer", "scheduler", "scaler", "rng", "epoch", "best_fitness",
    "train_args", "train_metrics",
)
_TENSOR_KEYS = ("model", "ema", "optimizer", "scheduler", "scaler", "rng")
_PLAIN = (str, int, float, bool, type(None), torch.Tensor, torch.dtype, torch.Size)
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."

MAX_ZIP_ENTRIES = 100_000
"""A checkpoint's zip may list at most this many entries (yolov8x-seg with optimizer state: ~1 500).
Checked on the end-of-central-directory record, before Python builds one object per entry."""
MAX_EXPANSION = 4
"""The entries' declared uncompressed sizes may add up to at most ``MAX_EXPANSION`` × the file size
(+ 1 MiB). torch writes stored (uncompressed) entries, so a genuine file is at 1×; a DEFLATE bomb
(64 KB → 64 MB) is refused before torch inflates anything. torch allocates exactly the declared size
and checks it against each storage, so this bounds every allocation by the file size."""
MAX_PICKLE_BYTES = 16 << 20
"""The largest ``data.pkl`` accepted (YOLO26n-seg's: 216 KB). Unpickled objects cost 10-50x their
pickled bytes, so this bounds the memory the object graph itself can take."""

ReadForeign = Callable[[Path, list], "dict | None"]


# --------------------------------------------------------------------------- building


def make_checkpoint(model, *, half: bool = False, **fields) -> dict:
    """The plain checkpoint dict of docs/contracts.md for ``model`` (a GraphModel, or DDP-wrapped).

    ``fields`` set any other contract key (``ema``, ``optimizer``, ``epoch``, ``train_args`` ...);
    unknown keys are refused so the format stays documented. ``half`` stores fp16 weights."""
    unknown = sorted(set(fields) - set(CHECKPOINT_KEYS))
    if unknown:
        raise UsageError(f"make_checkpoint: unknown checkpoint key(s) {unknown}",
                         hint=f"allowed: {', '.join(CHECKPOINT_KEYS)}")
    model = getattr(model, "module", model)

    def sd(m):
        out = {}
        for k, v in m.state_dict().items():
            v = v.detach().to("cpu").clone()
            out[k] = v.half() if half and v.is_floating_point() else v
        return out

    ckpt = {
        "format": "segctl", "format_version": FORMAT_VERSION, "segctl_version": __version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "task": getattr(model, "task", ""), "yaml": copy.deepcopy(getattr(model, "yaml", {})),
        "names": {int(k): str(v) for k, v in getattr(model, "names", {}).items()},
        "stride": [float(s) for s in getattr(model, "stride", torch.tensor([32.0])).tolist()],
        "imgsz": 640, "model": sd(model), "ema": None, "updates": 0, "optimizer": None, "scheduler": None,
        "scaler": None, "rng": None, "epoch": -1, "best_fitness": None, "train_args": {}, "train_metrics": {},
    }
    for k, v in fields.items():
        ckpt[k] = sd(getattr(v, "module", v)) if k in ("model", "ema") and isinstance(v, torch.nn.Module) else v
    return ckpt


def model_from_checkpoint(ckpt: Mapping, layers: Mapping[str, type] | None = None, *, session=None,
                          prefer_ema: bool = True):
    """Rebuild the model from ``ckpt["yaml"]`` and load its weights strictly (as fp32).

    ``layers`` maps layer names to classes; with ``session`` instead, the registry's layers are used."""
    from .parser import build_model

    if layers is None:
        if session is None:
            raise UsageError("model_from_checkpoint needs layers= or session=")
        from .registry_helpers import layers_from_session

        layers = layers_from_session(session)

    cfg = ckpt.get("yaml")
    if not isinstance(cfg, Mapping):
        raise CheckpointError("checkpoint has no model 'yaml'", hint="only full segctl checkpoints can be rebuilt")
    names = ckpt.get("names") or None
    if names is not None and not isinstance(names, (Mapping, list, tuple)):
        raise CheckpointError(f"checkpoint 'names' must be a mapping or list, got {type(names).__name__}")
    sd = (ckpt.get("ema") if prefer_ema else None) or ckpt.get("model")
    if not isinstance(sd, Mapping) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError("checkpoint holds no 'model' state dict of tensors")

    def build():
        try:
            return build_model(cfg, layers=layers, nc=len(names) if names else cfg.get("nc"), names=names,
                               ch=int(cfg.get("ch", 3)), task=ckpt.get("task") or None, torch_nn=False)
        except SegctlError:
            raise
        except Exception as e:  # a crafted YAML reaching a layer's constructor with odd values
            raise CheckpointError(f"checkpoint's model 'yaml' cannot be built ({type(e).__name__}: {e})") from e

    # The architecture a file describes is built on the meta device first (no memory), and its
    # parameter shapes must equal the stored tensors -- which the file size bounds -- before it is
    # materialised: a 300-byte file can no longer ask for a 100 MB model.
    with torch.device("meta"):
        _check_fits(build().state_dict(), sd)
    model = build()
    _check_fits(model.state_dict(), sd)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=True)
    if ckpt.get("stride"):
        model.stride = torch.tensor([float(s) for s in ckpt["stride"]])
    return model


def _check_fits(own: Mapping, sd: Mapping) -> None:
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    bad = [f"{k} {tuple(sd[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if k in sd and sd[k].shape != v.shape]
    if missing or unexpected or bad:
        def few(xs):
            return ", ".join(xs[:5]) + (f" (+{len(xs) - 5} more)" if len(xs) > 5 else "")

        parts = [f"missing: {few(missing)}" if missing else "", f"unexpected: {few(unexpected)}" if unexpected else "",
                 f"shape mismatch: {few(bad)}" if bad else ""]
        raise CheckpointError("checkpoint weights do not fit its architecture; " + "; ".join(p for p in parts if p),
                              hint="use transfer_weights() to load a partially matching checkpoint")


# --------------------------------------------------------------------------- saving


def _check_plain(obj, where: str = "checkpoint") -> None:
    """Refuse anything ``torch.load(weights_only=True)`` could not read back (walked iteratively)."""
    stack = [(obj, where)]
    while stack:
        o, w = stack.pop()
        if isinstance(o, Mapping):
            stack.extend((v, f"{w}[{k!r}]") for k, v in o.items())
            bad = [k for k in o if not isinstance(k, (str, int, float, bool, type(None)))]
            if bad:
                raise CheckpointError(f"{w} has a key of type {type(bad[0]).__name__}; only plain data can be saved")
        elif isinstance(o, (list, tuple)):
            stack.extend((v, f"{w}[{i}]") for i, v in enumerate(o))
        elif not isinstance(o, _PLAIN):
            raise CheckpointError(f"{w} holds a {type(o).__module__}.{type(o).__name__}; only plain data can be saved",
                                  hint="convert it to lists/dicts/tensors (e.g. numpy arrays with torch.from_numpy)")


def check_finite(ckpt: Mapping, path: str | os.PathLike = "checkpoint") -> None:
    """Name the first weight tensor holding NaN or Inf (such a model is never useful)."""
    for key in ("model", "ema"):
        sd = ckpt.get(key)
        if not isinstance(sd, Mapping):
            continue
        for name, t in sd.items():
            if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
                what = "NaN" if bool(torch.isnan(t).any()) else "Inf"
                raise CheckpointError(f"{path}: tensor {key}.{name} contains {what}",
                                      hint="the model diverged; use an earlier checkpoint")


def clean_stray_temps(path: str | os.PathLike) -> int:
    """Remove temp files a killed save left next to ``path``; returns how many."""
    path = Path(path)
    n = 0
    if path.parent.is_dir():
        for p in path.parent.glob(f".{path.name}.*.tmp"):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
    return n


def save_checkpoint(ckpt: Mapping, path: str | os.PathLike) -> Path:
    """Write ``ckpt`` to ``path`` atomically (``.safetensors``: weights + JSON metadata; else torch zip)."""
    path = Path(path)
    _check_plain(ckpt)
    check_finite(ckpt, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stray_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if path.suffix == ".safetensors":
                tensors, meta = _to_safetensors(ckpt)
                write_safetensors(fh, tensors, meta)
            else:
                try:
                    torch.save(dict(ckpt), fh)
                except RuntimeError as e:  # a full disk mid-write surfaces as "unexpected pos ...", not OSError
                    raise OSError(f"torch.save failed: {e}") from e
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise SegctlError(f"cannot write checkpoint {path}: {e.strerror or e}",
                          hint="check free disk space and permissions; the previous file is intact") from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def _to_safetensors(ckpt: Mapping) -> tuple[dict, dict]:
    weights = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(weights, Mapping):
        raise CheckpointError("checkpoint has no 'model' state dict to write")
    meta = {k: v for k, v in ckpt.items() if k not in _TENSOR_KEYS}
    return dict(weights), {"format": "segctl", "segctl": json.dumps(meta, default=str)}


def _from_safetensors(path: Path) -> dict:
    tensors, meta = read_safetensors(path)
    if "segctl" not in meta:
        return {"format": "safetensors", "model": tensors, "ema": None}
    try:
        ckpt = json.loads(meta["segctl"])
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: segctl metadata is not valid JSON ({e})") from e
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: segctl metadata must be a JSON object, got {type(ckpt).__name__}")
    if isinstance(ckpt.get("names"), dict):
        try:
            ckpt["names"] = {int(k): str(v) for k, v in ckpt["names"].items()}
        except ValueError as e:
            raise CheckpointError(f"{path}: segctl metadata 'names' keys must be class indices ({e})") from e
    ckpt.update(model=tensors, ema=None)
    return ckpt


# --------------------------------------------------------------------------- loading


def _sniff(path: Path, head: bytes) -> None:
    """Raise the specific error for files that are not torch zip archives."""
    if head[:3] == b"\xff\xd8\xff":
        raise CheckpointError(f"{path}: not a checkpoint (it is a JPEG image)")
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        raise CheckpointError(f"{path}: not a checkpoint (it is a PNG image)")
    if len(head) > 262 and head[257:262] == b"ustar":
        raise CheckpointError(f"{path}: legacy tar-format torch checkpoint is not supported",
                              hint="re-save it with a current torch (zip format), or train from the YAML")
    if head.startswith(_LEGACY_TORCH_MAGIC):
        raise CheckpointError(f"{path}: legacy (pre-zip) torch checkpoint format is not supported",
                              hint="re-save it with torch >= 1.6")
    if head[:1] == b"\x80" and len(head) > 1:
        raise CheckpointError(f"{path}: a bare pickle (protocol {head[1]}), not a torch checkpoint; pickle protocol "
                              f"{head[1]} not supported", hint="segctl never unpickles arbitrary files")
    raise CheckpointError(f"{path}: not a checkpoint (unrecognised file format)",
                          hint="expected a segctl/YOLOv8 .pt or .safetensors file")


def _zip_entry_count(path: Path) -> int | None:
    """The entry count the end-of-central-directory record declares (zip64 too), or ``None``."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - (65535 + 22)))
        tail = fh.read()
        pos = tail.rfind(b"PK\x05\x06")
        if pos < 0 or pos + 22 > len(tail):
            return None
        count = struct.unpack_from("<H", tail, pos + 10)[0]
        loc = tail.rfind(b"PK\x06\x07", 0, pos)  # zip64 locator: readers may trust the zip64 record's count
        if loc >= 0 and loc + 20 <= len(tail):
            (off,) = struct.unpack_from("<Q", tail, loc + 8)
            fh.seek(off)
            rec = fh.read(56)
            if len(rec) == 56 and rec[:4] == b"PK\x06\x06":
                count = max(count, *struct.unpack_from("<QQ", rec, 24))
    return count


def _inspect_zip(path: Path) -> None:
    """Refuse archives that are not torch checkpoints, or whose declared sizes could exhaust memory."""
    count = _zip_entry_count(path)
    if count is not None and count > MAX_ZIP_ENTRIES:
        raise CheckpointError(f"{path}: refused, the zip declares {count} entries (limit {MAX_ZIP_ENTRIES})",
                              hint="nothing was loaded; a checkpoint never has that many tensors")
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint (bad zip: {e})",
                              hint="the download or save did not complete; fetch or save it again") from e
    names = [i.filename for i in infos]
    if len(infos) > MAX_ZIP_ENTRIES:
        raise CheckpointError(f"{path}: refused, the zip holds {len(infos)} entries (limit {MAX_ZIP_ENTRIES})")
    odd = [i for i in infos if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)]
    if odd:
        raise CheckpointError(f"{path}: refused, entry {odd[0].filename!r} uses zip compression method "
                              f"{odd[0].compress_type} (torch checkpoints are stored uncompressed)")
    size = path.stat().st_size
    declared = sum(i.file_size for i in infos)
    if declared > MAX_EXPANSION * size + (1 << 20):
        big = max(infos, key=lambda i: i.file_size)
        raise CheckpointError(
            f"{path}: refused, its entries declare {declared:,} bytes once uncompressed from a {size:,}-byte file "
            f"(largest: {big.filename!r}, {big.file_size:,} bytes from {big.compress_size:,}); "
            f"the limit is {MAX_EXPANSION}x the file size",
            hint="nothing was loaded; a compressed checkpoint this dense is a decompression bomb. "
                 "Re-save it with torch.save (entries stored uncompressed)")
    pkl = [i for i in infos if i.filename.endswith(".pkl") and i.file_size > MAX_PICKLE_BYTES]
    if pkl:
        raise CheckpointError(f"{path}: refused, {pkl[0].filename!r} declares {pkl[0].file_size:,} bytes of pickle "
                              f"(limit {MAX_PICKLE_BYTES:,}); checkpoints keep their bulk in tensor records")
    if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
        raise CheckpointError(f"{path}: TorchScript is not supported as a model file",
                              hint="load the .pt checkpoint it was exported from; TorchScript runs through its backend")
    if not any(n.endswith("data.pkl") for n in names):
        raise CheckpointError(f"{path}: a zip archive but not a torch checkpoint (no data.pkl)")


def check_tensor_sizes(ckpt, path: str | os.PathLike = "checkpoint") -> None:
    """Refuse tensors that claim more elements than their storage holds (stride-0 expansion).

    Why: ``torch.zeros(1).expand(300_000_000)`` pickles as a 4-byte storage; it loads for free, but
    the first operation that materialises it (the NaN check, ``.float()``) allocates 1.2 GB. Every
    tensor anywhere in the checkpoint must fit in its own storage bytes, so memory stays bounded by
    the file size. Walked iteratively (a deep structure cannot overflow the stack)."""
    stack, seen = [(ckpt, "checkpoint")], set()
    while stack:
        o, w = stack.pop()
        if isinstance(o, torch.Tensor):
            need = o.numel() * o.element_size()
            have = o.untyped_storage().nbytes() - o.storage_offset() * o.element_size()
            if need > max(have, 0):
                raise CheckpointError(
                    f"{path}: tensor {w} of shape {tuple(o.shape)} needs {need:,} bytes but its storage holds "
                    f"{max(have, 0):,}; refused (expanded or overlapping tensors are not stored by segctl or torch.save "
                    f"of a state dict)", hint="nothing was allocated; re-save the weights with contiguous tensors")
        elif isinstance(o, (Mapping, list, tuple)) and id(o) not in seen:
            seen.add(id(o))
            items = o.items() if isinstance(o, Mapping) else enumerate(o)
            stack.extend((v, f"{w}[{k!r}]") for k, v in items)


def load_checkpoint(path: str | os.PathLike, *, read_foreign: ReadForeign | None = None, session=None) -> dict:
    """Load a segctl ``.pt``/``.safetensors`` (or, through ``read_foreign``, a foreign format).

    ``read_foreign(path, unsafe_globals)`` is called when the pickle references globals outside
    torch's plain-data set; it returns a plain checkpoint dict or ``None`` (then the file is refused
    with :class:`UnsafeCheckpointError` listing the globals). Nothing is ever unpickled unsafely.
    With ``session`` (and no ``read_foreign``) the plugins' ``segctl_read_checkpoint`` hook is used."""
    path = Path(path)
    if read_foreign is None and session is not None:
        from .registry_helpers import read_foreign_from_session

        read_foreign = read_foreign_from_session(session)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} not found", hint="check the path or the weights directory")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file", hint="the download or save did not complete")
    if path.suffix == ".safetensors":
        ckpt = _from_safetensors(path)
    else:
        with open(path, "rb") as fh:
            head = fh.read(512)
        if head[:4] != b"PK\x03\x04":
            _sniff(path, head)
        _inspect_zip(path)
        ckpt = _load_torch_zip(path, read_foreign)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: holds a {type(ckpt).__name__}, not a checkpoint dict")
    if "model" not in ckpt and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise CheckpointError(f"{path}: a bare state_dict, not a checkpoint (no 'yaml' to rebuild the model)",
                              hint="build the model from its YAML and call segctl.nn.transfer_weights(model, sd)")
    if not isinstance(ckpt.get("ema") or ckpt.get("model"), Mapping):
        raise CheckpointError(f"{path}: not a segctl checkpoint (no 'model' state dict)")
    check_tensor_sizes(ckpt, path)
    check_finite(ckpt, path)
    return ckpt


def _load_torch_zip(path: Path, read_foreign: ReadForeign | None):
    with SAFE_GLOBALS_LOCK:
        try:
            unsafe = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
        except Exception as e:  # torch raises bare RuntimeError/ValueError for damaged archives
            raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({e})") from e
        if not unsafe:
            try:
                return torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:
                raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({type(e).__name__}: {e})") from e
    ckpt = read_foreign(path, unsafe) if read_foreign is not None else None
    if ckpt is None:
        raise UnsafeCheckpointError(
            f"{path}: refused, it references code outside the allow-list: {', '.join(unsafe[:8])}"
            + (f" (+{len(unsafe) - 8} more)" if len(unsafe) > 8 else ""),
            hint="nothing was executed; only segctl and recognised YOLOv8 checkpoints are loaded",
        )
    return ckpt
