"""``export(model, session, **args)``: the one entry point used by ``Model.export`` and the CLI.

Why the core does this and not each plugin: every format needs the same guarantees — options
checked before any work, missing runtimes reported with the install command, the ``after=`` chain
exported first, a model that yields NaN refused, the source never overwritten, the artifact
written under a temporary name and renamed only once it has verified (a killed export leaves
either the complete artifact or nothing), and ``segctl_on_export_end`` emitted last. A format set to
run in another environment (:mod:`.environments`) is exported there, with the same guarantees.
"""
from __future__ import annotations

import copy
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from ..errors import ExportError, SegctlError, UsageError
from .chain import registered, resolve_chain
from .environments import export_elsewhere, interpreter_for
from .metadata import normalise
from .options import COMMON, check_available, validate

TMP_PREFIX = ".segctl-export-"


def load_model(source: Any, session: Any, device: str = "cpu") -> tuple[Any, Path | None]:
    """``(module, source_path)`` ready to trace: a deep copy in eval mode, fp32, on ``device``,
    fused when the model supports it (the caller's model is never modified)."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists() and path.suffix in (".pt", ".pth", ".safetensors") and session is not None:
            resolved = session.resolve_uri(str(source), "weights")  # named weights: cache or download
            path = Path(resolved) if resolved else path
        if not path.exists() and path.suffix in (".yaml", ".yml", "") and session is not None \
                and session.registry.find("models", path.stem) is not None:
            path = Path(path.stem + ".yaml")  # a registered config name: built, written next to cwd
        elif not path.exists():
            raise UsageError(f"model file not found: {path}", hint="export needs model=PATH to a .pt/.safetensors/.yaml")
        # absolute: converters of later chain steps may run in another working directory
        path = path.absolute()
        if path.suffix in (".yaml", ".yml"):
            from ..nn.registry_helpers import build_from_session  # file path or registered name

            module = build_from_session(str(path), session)
        elif path.suffix in (".pt", ".pth", ".safetensors"):
            from ..nn.registry_helpers import load_model_from_session

            module, _ = load_model_from_session(path, session)
        else:
            raise UsageError(f"cannot export {path.name}: only .pt, .safetensors and .yaml models can be exported",
                             hint="export from the PyTorch checkpoint, not from an exported artifact")
    else:
        module, path = copy.deepcopy(source), None
        src = getattr(source, "pt_path", None) or getattr(source, "source", None)
        if isinstance(src, (str, os.PathLike)) and Path(src).suffix in (".pt", ".pth", ".safetensors", ".yaml"):
            path = Path(src)
    module = module.float().train(False).to(device)
    if hasattr(module, "fuse") and not getattr(module, "fused", False):
        module.fuse()
    for p in module.parameters():
        p.requires_grad_(False)
    prepare_for_trace(module)
    return module, path


def use_end2end(module: Any, want: bool) -> None:
    """``end2end=True``: export the one-to-one (NMS-free) outputs of a head that has them.

    The protocol (docs/contracts.md, "End-to-end heads"): the model's head declares
    ``end2end_capable = True`` and reads its one-to-one branch while ``end2end`` is true, keeping
    the ordinary ``(pred, proto)`` layout. Other models are refused: there is nothing to switch."""
    if not want:
        return
    head = getattr(module, "head", None)
    if not getattr(head, "end2end_capable", False):
        raise UsageError("end2end=True: this model has no one-to-one (NMS-free) head",
                         hint="export without end2end=True (nms=True adds NMS to the graph instead)")
    head.end2end = True


def _source_path(model: Any) -> Path | None:
    """The file an export source names (for the default output name), without loading it."""
    src = model if isinstance(model, (str, os.PathLike)) else getattr(model, "pt_path", None) or getattr(model, "source", None)
    return Path(src).absolute() if isinstance(src, (str, os.PathLike)) else None


def prepare_for_trace(module: Any) -> None:
    """Drop shape-keyed caches (the detection head's anchors) so a trace records how they are
    computed instead of baking the last ones in as constants (which would break ``dynamic``)."""
    for m in module.modules():
        if hasattr(m, "_anchor_key"):
            m._anchor_key = None


def output_path(spec: Any, source: Path | None, args: dict) -> Path:
    """``args['output']`` or ``<dir of model>/<stem><suffix>`` (``model.onnx`` in the working
    directory for an in-memory model without a file). Never the source file itself. Always
    absolute: later chain steps (onnx2tf) change directory and must still find the intermediates."""
    if args.get("output"):
        out = Path(args["output"]).expanduser().absolute()
    elif source is not None:
        out = source.absolute().with_name(source.stem + spec.suffix)
    else:
        out = Path.cwd() / ("model" + spec.suffix)
    if source is not None and out.resolve() == source.resolve():
        raise UsageError(f"export output {out} is the source model; refusing to overwrite it",
                         hint="choose another output=... path")
    return out


def _replace(tmp: Path, out: Path) -> None:
    """Move ``tmp`` to ``out`` atomically (a folder: the old one is moved aside first)."""
    if tmp.is_dir():
        old = None
        if out.exists():
            old = out.with_name(f"{TMP_PREFIX}old-{uuid.uuid4().hex[:8]}-{out.name}")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    else:
        if out.is_dir():
            raise UsageError(f"export output {out} is a folder", hint="choose a file name with output=...")
        os.replace(tmp, out)
    companion = tmp.with_name(tmp.name + ".metadata.yaml")
    if companion.exists():
        os.replace(companion, out.with_name(out.name + ".metadata.yaml"))


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
    companion = path.with_name(path.name + ".metadata.yaml")
    if companion.exists():
        companion.unlink()


def export_one(spec: Any, module: Any, source: Path | None, args: dict, session: Any, deps: dict[str, Path]) -> Path:
    """Export ``module`` to one format (its ``after=`` artifacts already in ``deps``)."""
    from .metadata import build_metadata

    from .preload import torch_stack_first

    torch_stack_first()
    cls = spec.load()
    exporter = cls(spec, session)
    out = output_path(spec, source, args)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex[:8]}-{out.name}")
    meta = build_metadata(module, args, spec.name)
    who = f"exporter {spec.name!r} (plugin {spec.plugin or '?'} {spec.dist} {spec.version})".replace("  ", " ")
    try:
        try:
            prepare_for_trace(module)
            written = Path(exporter.export(module, tmp, args, deps, meta) or tmp)
        except SegctlError:
            raise
        except Exception as e:  # noqa: BLE001 - attributed to the plugin that raised
            raise ExportError(f"{who} failed: {type(e).__name__}: {e}",
                              hint="run with --debug for the traceback; report it to the plugin's authors") from e
        if written != tmp:
            raise ExportError(f"{who} wrote {written} instead of the path it was given ({tmp})")
        if args.get("verify", "fail") != "off":
            meta["parity"] = exporter.verify(tmp, module, args, meta)
            exporter.write_metadata(tmp, meta)
        _replace(tmp, out)
    except BaseException:
        _remove(tmp)
        raise
    _report(spec.name, out, meta.get("parity"))
    if session is not None:
        session.emit("on_export_end", exporter=exporter, path=out, metadata=meta)
    return out


def _report(name: str, out: Path, parity: dict | None) -> None:
    """One line per artifact; a plugin's parity dict may be partial (e.g. a spec-only check)."""
    from rich.console import Console

    msg = f"[bold]{name}[/]: {out}"
    if parity:
        passed = parity.get("passed", True)
        state = "[green]verified[/]" if passed else "[yellow]NOT within tolerance[/]"
        diff, iou = parity.get("max_abs_diff"), parity.get("mask_iou")
        detail = []
        if isinstance(diff, (int, float)) and diff == diff:
            detail.append(f"max abs diff {diff:.2e}")
        if isinstance(iou, (int, float)) and iou == iou:
            detail.append(f"mask IoU {iou:.4f}")
        if parity.get("method") and not detail:
            detail.append(str(parity["method"]))
        msg += f" ({state}" + (": " + ", ".join(detail) if detail else "") + ")"
    Console(stderr=True).print(msg, highlight=False)


def export(model: Any, session: Any, **args: Any) -> Path:
    """Export ``model`` (a ``.pt``/``.safetensors``/``.yaml`` path or an ``nn.Module``) and return the
    artifact path. ``args``: ``format`` (default ``torchscript``) and the format's options
    (``imgsz``, ``batch``, ``half``, ``dynamic``, ``nms``, ``output``, ``verify``=true|warn|false ...).

    :raises UsageError: unknown format/option, bad value, output equal to the source.
    :raises MissingDependencyError: the format's runtime is not installed (exit 3, install hint).
    :raises ExportError: the export failed, the model yields NaN, or the artifact did not verify.
    """
    from .verify import check_finite

    args = dict(args)
    args.pop("model", None)
    fmt = str(args.pop("format", None) or "torchscript")
    chain = resolve_chain(fmt, registered(session, "exporters"))
    target = chain[-1]
    opts = validate(target, args)
    python = interpreter_for(target.name)
    if python:  # the format runs in an environment of its own: the whole chain is exported there
        path, meta = export_elsewhere(python, target.name, model, opts, output_path(target, _source_path(model), opts))
        if session is not None:  # exporter None: its class runs in the other environment, not here
            session.emit("on_export_end", exporter=None, path=path, metadata=normalise(meta))
        return path
    for spec in chain:
        check_available(spec)
    module, source = load_model(model, session, opts["device"])
    use_end2end(module, bool(opts.get("end2end")))
    check_finite(module, opts)
    deps: dict[str, Path] = {}
    final = output_path(target, source, opts)
    stem = final.name[: -len(target.suffix)] if target.suffix and final.name.endswith(target.suffix) else final.stem
    for spec in chain[:-1]:
        dep_args = {k: v for k, v in opts.items() if k in spec.options or (k in COMMON and k != "output")}
        dep_args["output"] = str(final.parent / (stem + spec.suffix))  # intermediates sit beside the artifact
        deps[spec.name] = export_one(spec, module, source, validate(spec, dep_args), session, deps)
    return export_one(target, module, source, opts, session, deps)
