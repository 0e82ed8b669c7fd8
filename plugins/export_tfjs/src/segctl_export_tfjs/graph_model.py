"""Writing a TensorFlow.js graph model from a frozen GraphDef, with TensorFlow's own graph tools.

Why segctl writes the format itself: the ``tensorflowjs`` converter package pins an old TensorFlow
(through ``tensorflow_decision_forests``) and cannot live beside TensorFlow 2.21, yet the format is
small and documented: ``model.json`` holds ``format: "graph-model"``, the GraphDef as proto3 JSON
(``modelTopology``) with every ``Const`` node's value moved out, the serving ``signature`` and a
``weightsManifest``; the values sit back to back, little-endian, in binary shards of at most 4 MB
(``group1-shard<i>of<n>.bin``), in manifest order.

Steps: TensorFlow's graph optimiser (grappler: pruning, constant folding, arithmetic and dependency
simplification; no remapping, so no fused kernels whose activation TF.js may lack) shrinks the
frozen graph to what the outputs need; every op is checked against :data:`.ops.SUPPORTED_OPS` so a
graph TF.js cannot run is refused here rather than in a browser; the constants become weights.

Reduced precision uses the manifest's ``quantization`` field and only touches *kernels* (float
constants that are the filter of a convolution or an operand of a matrix product: ~99 % of the
bytes); biases, anchor grids and shape constants stay exact. ``half``: float16 values
(``{"dtype": "float16"}``). ``int8``: affine uint8, ``value = q * scale + min`` per tensor
(``{"dtype": "uint8", "scale", "min"}``), with the grid shifted so that 0.0 is exactly
representable (zero padding and zero weights stay zero). TF.js dequantises at load time, so
activations and I/O stay float32.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from segctl.errors import ExportError

from .ops import unsupported_ops

MODEL_JSON = "model.json"
SHARD_BYTES = 4 * 1024 * 1024
#: graph optimiser passes (the names grappler's RewriterConfig takes), run twice
PASSES = ("pruning", "constfold", "arithmetic", "dependency")
#: op -> input positions holding a kernel (quantised under half/int8)
KERNEL_INPUTS = {"Conv2D": (1,), "Conv2DBackpropInput": (1,), "Conv3D": (1,), "DepthwiseConv2dNative": (1,),
                 "_FusedConv2D": (1,), "FusedDepthwiseConv2dNative": (1,), "MatMul": (0, 1),
                 "BatchMatMul": (0, 1), "BatchMatMulV2": (0, 1), "_FusedMatMul": (1,)}
#: TensorProto fields that hold values (cleared in model.json: the values live in the shards)
VALUE_FIELDS = ("tensor_content", "half_val", "float_val", "double_val", "int_val", "string_val", "scomplex_val",
                "int64_val", "bool_val", "dcomplex_val", "uint32_val", "uint64_val")
_INT32 = np.iinfo(np.int32)


def optimize(graph_def, outputs: list[str]):
    """``graph_def`` pruned to ``outputs`` (node names) and constant-folded by grappler."""
    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.grappler import tf_optimizer

    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
        for name in outputs:  # grappler keeps what the "train_op" collection names
            graph.add_to_collection("train_op", graph.get_operation_by_name(name))
        meta = tf.compat.v1.train.export_meta_graph(graph_def=graph.as_graph_def(), graph=graph)
    config = config_pb2.ConfigProto()
    rewrite = config.graph_options.rewrite_options
    rewrite.optimizers.extend(PASSES * 2)
    rewrite.min_graph_nodes = -1  # optimise small graphs too
    return tf_optimizer.OptimizeGraph(config, meta)


def check_ops(graph_def) -> None:
    """Raise :class:`ExportError` naming every op TF.js cannot run (with one node each)."""
    bad = unsupported_ops(graph_def)
    if bad:
        listing = "; ".join(f"{op} (e.g. node {names[0]!r}, {len(names)} node(s))" for op, names in sorted(bad.items()))
        raise ExportError(f"the graph uses op(s) TensorFlow.js does not support: {listing}",
                          hint="export another format (onnx, tflite), or change the model so it avoids these ops")


def kernel_constants(graph_def) -> set[str]:
    """Names of the ``Const`` nodes feeding a kernel input (see :data:`KERNEL_INPUTS`)."""
    consts = {n.name for n in graph_def.node if n.op == "Const"}
    out = set()
    for node in graph_def.node:
        for i in KERNEL_INPUTS.get(node.op, ()):
            if i < len(node.input):
                src = node.input[i].split(":")[0].lstrip("^")
                if src in consts:
                    out.add(src)
    return out


def affine_uint8(arr: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(q, scale, min)`` with ``q * scale + min`` ~ ``arr``; 0.0 maps to an integer ``q`` when in range."""
    lo, hi = float(min(arr.min(), 0.0)), float(max(arr.max(), 0.0))
    if hi == lo:
        return np.zeros(arr.shape, np.uint8), 1.0, lo
    scale = (hi - lo) / 255.0
    zero = round(-lo / scale)  # 0.0 lands exactly on this level
    low = -zero * scale
    q = np.clip(np.round((arr.astype(np.float64) - low) / scale), 0, 255).astype(np.uint8)
    return q, scale, low


def encode(name: str, arr: np.ndarray, precision: str, kernel: bool) -> tuple[dict, bytes]:
    """``(manifest entry, little-endian bytes)`` of one weight."""
    shape = [int(d) for d in arr.shape]
    if arr.dtype == np.float32 or arr.dtype == np.float64:
        arr = arr.astype("<f4")
        entry = {"name": name, "shape": shape, "dtype": "float32"}
        if kernel and precision == "float16" and np.abs(arr).max(initial=0) < 65504:
            return {**entry, "quantization": {"dtype": "float16"}}, arr.astype("<f2").tobytes()
        if kernel and precision == "uint8" and arr.size:
            q, scale, low = affine_uint8(arr)
            return {**entry, "quantization": {"dtype": "uint8", "scale": scale, "min": low}}, q.tobytes()
        return entry, arr.tobytes()
    if arr.dtype in (np.int64, np.int32, np.int16, np.int8, np.uint8, np.uint16):
        if arr.size and (arr.min() < _INT32.min or arr.max() > _INT32.max):
            raise ExportError(f"constant {name!r} holds integers beyond int32, which TensorFlow.js cannot store",
                              hint="export another format (onnx, tflite)")
        return {"name": name, "shape": shape, "dtype": "int32"}, arr.astype("<i4").tobytes()
    if arr.dtype == np.bool_:
        return {"name": name, "shape": shape, "dtype": "bool"}, arr.astype(np.uint8).tobytes()
    raise ExportError(f"constant {name!r} has dtype {arr.dtype}, which segctl's TF.js writer does not store",
                      hint="export another format (onnx, tflite)")


def extract_weights(graph_def, precision: str) -> tuple[list[dict], bytes]:
    """Move every ``Const`` value out of ``graph_def`` (in place); ``(manifest entries, data)``."""
    import tensorflow as tf

    kernels = kernel_constants(graph_def) if precision != "float32" else set()
    entries, chunks = [], []
    for node in graph_def.node:
        if node.op != "Const":
            continue
        tensor = node.attr["value"].tensor
        entry, data = encode(node.name, tf.make_ndarray(tensor), precision, node.name in kernels)
        entries.append(entry)
        chunks.append(data)
        for name in VALUE_FIELDS:
            tensor.ClearField(name)
    return entries, b"".join(chunks)


def write_shards(data: bytes, folder: Path, shard_bytes: int = SHARD_BYTES) -> list[str]:
    """Split ``data`` into ``group1-shard<i>of<n>.bin`` files of at most ``shard_bytes``; their names."""
    n = max(1, -(-len(data) // shard_bytes))
    names = [f"group1-shard{i + 1}of{n}.bin" for i in range(n)]
    for i, name in enumerate(names):
        (folder / name).write_bytes(data[i * shard_bytes:(i + 1) * shard_bytes])
    return names


def tensor_info(graph, name: str) -> dict:
    """The proto3-JSON ``TensorInfo`` of tensor ``name`` (dtype and static shape)."""
    t = graph.get_tensor_by_name(name)
    dims = [{"size": str(-1 if d is None else d)} for d in t.shape.as_list()]
    return {"name": name, "dtype": "DT_" + t.dtype.name.upper(), "tensorShape": {"dim": dims}}


def write_graph_model(graph_def, inputs: dict[str, str], outputs: dict[str, str], folder: Path, *,
                      precision: str = "float32", metadata: dict | None = None, converted_by: str = "segctl") -> Path:
    """Write ``folder/model.json`` and its shards from a frozen ``graph_def``.

    :param inputs: ``{signature key: tensor name}`` (``{"images": "images:0"}``).
    :param outputs: ``{signature key: tensor name}`` (``{"output0": "Identity:0", ...}``).
    :param precision: ``float32``, ``float16`` or ``uint8`` (kernels only, see the module doc).
    :param metadata: stored as ``userDefinedMetadata.segctl``.
    :raises ExportError: an op TF.js lacks, or a constant it cannot store.
    """
    import tensorflow as tf
    from google.protobuf import json_format

    graph_def = optimize(graph_def, [n.split(":")[0] for n in outputs.values()])
    check_ops(graph_def)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    signature = {"inputs": {k: tensor_info(graph, v) for k, v in inputs.items()},
                 "outputs": {k: tensor_info(graph, v) for k, v in outputs.items()}}
    entries, data = extract_weights(graph_def, precision)
    folder.mkdir(parents=True, exist_ok=True)
    paths = write_shards(data, folder)
    spec = {
        "format": "graph-model",
        "generatedBy": tf.__version__,
        "convertedBy": converted_by,
        "signature": signature,
        "modelTopology": json_format.MessageToDict(graph_def),
        "weightsManifest": [{"paths": paths, "weights": entries}],
    }
    if metadata is not None:
        spec["userDefinedMetadata"] = {"segctl": json.loads(json.dumps(metadata, default=str))}
    path = folder / MODEL_JSON
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path
