"""What can be checked of a CoreML model without running it, and its metadata.

Why: Core ML prediction exists only on macOS, so on Linux an export cannot be compared with
PyTorch numerically. What can be verified is everything a consumer relies on besides the numbers:
one RGB image input of the exported size, the two outputs ``output0`` [1, 4+nc+32, N] and
``output1`` [1, 32, H/4, W/4] (N from the strides), and segctl's metadata in the model's
user-defined metadata (one JSON string per key, the same encoding as ONNX ``metadata_props``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from segctl.errors import CheckpointError
from segctl.export.metadata import from_props

#: coremltools adds its own keys (source, version, date); segctl's keys are all the others
COREMLTOOLS_PREFIX = "com.github.apple.coremltools."


def load_spec(path: str | Path) -> Any:
    import coremltools as ct

    try:
        return ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    except Exception as e:  # noqa: BLE001 - any parse failure is an unreadable model
        raise CheckpointError(f"{path}: not a readable CoreML model ({type(e).__name__}: {e})") from e


def read_metadata(path: str | Path) -> dict:
    """segctl's metadata from the model's user-defined metadata."""
    spec = load_spec(path)
    props = {k: v for k, v in spec.description.metadata.userDefined.items() if not k.startswith(COREMLTOOLS_PREFIX)}
    return from_props(props)


def expected_outputs(meta: dict, nm: int = 32) -> dict[str, list[int]]:
    h, w = meta["imgsz"]
    strides = [float(s) for s in meta.get("strides") or (8, 16, 32)]
    n = sum(int(h // s) * int(w // s) for s in strides)
    return {"output0": [1, 4 + int(meta["nc"]) + nm, n], "output1": [1, nm, h // 4, w // 4]}


def check_spec(path: str | Path, meta: dict) -> dict:
    """Compare the model's interface and metadata with ``meta``; return a parity-style dict."""
    spec = load_spec(path)
    problems = []
    inputs = list(spec.description.input)
    h, w = meta["imgsz"]
    if len(inputs) != 1 or inputs[0].type.WhichOneof("Type") != "imageType":
        problems.append(f"expected one image input, got {[i.name for i in inputs]}")
    else:
        img = inputs[0].type.imageType
        if (img.height, img.width) != (h, w):
            problems.append(f"input is {img.height}x{img.width}, expected {h}x{w}")
    outputs = {o.name: list(o.type.multiArrayType.shape) for o in spec.description.output}
    expected = expected_outputs(meta)
    if outputs != expected:
        problems.append(f"outputs {outputs} differ from the expected {expected}")
    stored = read_metadata(path)
    for key in ("task", "names", "nc", "stride", "imgsz", "half", "int8"):
        if stored.get(key) != meta.get(key):
            problems.append(f"metadata {key}={stored.get(key)!r}, expected {meta.get(key)!r}")
    return {"passed": not problems, "method": "spec (Core ML prediction needs macOS)", "problems": problems,
            "max_abs_diff": float("nan"), "mask_iou": float("nan"), "outputs": outputs}
