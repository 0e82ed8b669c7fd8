"""Two small adaptations that let X2Paddle 1.6.0 (the last release) read today's ONNX graphs.

Why here and contained: X2Paddle is the maintained ONNX → Paddle route, but its last release
predates onnx 1.19, and it is stricter than the ONNX spec in one place that matters for YOLOv8:

1. it imports ``onnx.mapping.TENSOR_TYPE_TO_NP_TYPE``, a module onnx has since removed. The same
   table is built from ``onnx.helper.tensor_dtype_to_np_dtype`` and registered under the old name
   only when the real module is absent (nothing is replaced);
2. it refuses any ``MaxPool`` carrying a ``dilations`` attribute, even the all-ones default that
   torch's exporter writes for SPPF's pools. Dropping an all-ones ``dilations`` changes nothing in
   the graph's meaning; any other value is left in place (X2Paddle then reports it).

It also maps opsets 7–15 only, so the exporter hands it an opset-15 graph (see :mod:`.exporter`).
"""
from __future__ import annotations

import sys
import types

MAX_OPSET = 15


def install_onnx_mapping() -> None:
    try:
        import onnx.mapping  # noqa: F401
        return
    except ImportError:
        pass
    from onnx import TensorProto, helper

    table = {}
    for value in TensorProto.DataType.values():
        try:
            table[value] = helper.tensor_dtype_to_np_dtype(value)
        except (KeyError, ValueError, TypeError):
            continue
    module = types.ModuleType("onnx.mapping")
    module.TENSOR_TYPE_TO_NP_TYPE = table
    sys.modules["onnx.mapping"] = module


def drop_unit_dilations(model) -> int:
    """Remove all-ones ``dilations`` from ``MaxPool`` nodes of ``model`` (in place); return how many."""
    changed = 0
    for node in model.graph.node:
        if node.op_type != "MaxPool":
            continue
        keep = [a for a in node.attribute if not (a.name == "dilations" and all(v == 1 for v in a.ints))]
        if len(keep) != len(node.attribute):
            del node.attribute[:]
            node.attribute.extend(keep)
            changed += 1
    return changed


def opset_of(model) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
