"""The TensorFlow ops a TF.js graph model may contain (what tfjs-converter maps for graph models).

Why a reviewed constant and not the converter's own list: the converter package (``tensorflowjs``)
cannot be installed beside TensorFlow 2.21 (see docs/export-tensorflow.md), and TF.js itself only
tells at *load* time, in the browser, that an op is missing. segctl refuses such a graph at export.

Source: the "Tensorflow Op Name" column of tfjs-converter's ``docs/supported_ops.md`` and its
``python/tensorflowjs/op_list/*.json`` (``tfOpName``), reviewed for TensorFlow.js 4.22.0 (the npm
version the tests run). Ops TF.js lists as "Not mapped" are left out. Update this list when moving
to another TensorFlow.js release, and run the Node test (``make test``) that executes the graph.
"""
from __future__ import annotations

SUPPORTED_OPS: frozenset[str] = frozenset({
    # arithmetic
    "Add", "AddN", "AddV2", "BiasAdd", "Div", "DivNoNan", "FloorDiv", "FloorMod", "Maximum", "Minimum",
    "Mod", "Mul", "Pow", "RealDiv", "SquaredDifference", "Sub",
    # basic math
    "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atan2", "Atanh", "Ceil", "ClipByValue", "Complex",
    "ComplexAbs", "Cos", "Cosh", "Elu", "Erf", "Exp", "Expm1", "Floor", "Imag", "IsNan", "LeakyRelu", "Log",
    "Log1p", "Neg", "Prelu", "Prod", "Real", "Reciprocal", "Relu", "Relu6", "Round", "Rsqrt", "Selu",
    "Sigmoid", "Sign", "Sin", "Sinh", "Softplus", "Sqrt", "Square", "Tan", "Tanh",
    # control flow
    "EmptyTensorList", "Enter", "Exit", "If", "LoopCond", "Merge", "NextIteration", "StatelessIf",
    "StatelessWhile", "Switch", "TensorArrayCloseV3", "TensorArrayConcatV3", "TensorArrayGatherV3",
    "TensorArrayReadV3", "TensorArrayScatterV3", "TensorArraySizeV3", "TensorArraySplitV3", "TensorArrayV3",
    "TensorArrayWriteV3", "TensorListConcat", "TensorListFromTensor", "TensorListGather", "TensorListGetItem",
    "TensorListPopBack", "TensorListPushBack", "TensorListReserve", "TensorListScatter", "TensorListScatterV2",
    "TensorListSetItem", "TensorListSplit", "TensorListStack", "While",
    # convolution
    "_FusedConv2D", "AvgPool", "AvgPool3D", "Conv1D", "Conv2D", "Conv2DBackpropInput", "Conv3D",
    "DepthwiseConv2d", "DepthwiseConv2dNative", "Dilation2D", "FusedDepthwiseConv2dNative", "MaxPool",
    "MaxPool3D", "MaxPoolWithArgmax",
    # creation
    "Fill", "LinSpace", "Multinomial", "OneHot", "Ones", "OnesLike", "RandomUniform", "Range",
    "TruncatedNormal", "Zeros", "ZerosLike",
    # dynamic
    "ListDiff", "NonMaxSuppressionV2", "NonMaxSuppressionV3", "NonMaxSuppressionV4", "NonMaxSuppressionV5",
    "Where",
    # evaluation
    "TopKV2", "Unique", "UniqueV2",
    # graph
    "Const", "FakeQuantWithMinMaxVars", "Identity", "IdentityN", "NoOp", "Placeholder",
    "PlaceholderWithDefault", "Print", "Rank", "Shape", "ShapeN", "Size", "Snapshot", "StopGradient",
    # logical
    "Equal", "Greater", "GreaterEqual", "Less", "LessEqual", "LogicalAnd", "LogicalNot", "LogicalOr",
    "NotEqual", "Select", "SelectV2",
    # hash tables
    "HashTable", "HashTableV2", "LookupTableFind", "LookupTableFindV2", "LookupTableImport",
    "LookupTableImportV2", "LookupTableSize", "LookupTableSizeV2",
    # images
    "CropAndResize", "ResizeBilinear", "ResizeNearestNeighbor", "ImageProjectiveTransformV3",
    # matrices
    "_FusedMatMul", "BatchMatMul", "BatchMatMulV2", "Einsum", "MatMul", "Transpose",
    # normalization
    "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "LogSoftmax", "LRN", "Softmax", "SparseToDense",
    # reduction
    "All", "Any", "ArgMax", "ArgMin", "Bincount", "DenseBincount", "Max", "Mean", "Min", "Sum",
    # scan
    "Cumprod", "Cumsum",
    # slicing and joining
    "Concat", "ConcatV2", "Gather", "GatherNd", "GatherV2", "Pack", "Reverse", "ReverseV2", "ScatterNd",
    "Slice", "Split", "SplitV", "StridedSlice", "Tile", "Unpack",
    # spectral
    "FFT", "IFFT", "IRFFT", "RFFT",
    # transformations
    "BatchToSpaceND", "BroadcastArgs", "BroadcastTo", "Cast", "DepthToSpace", "ExpandDims", "MirrorPad",
    "Pad", "PadV2", "Reshape", "SpaceToBatchND", "Squeeze",
})

#: what TF.js's fused kernels accept in a ``fused_ops`` attribute (bias, then one activation)
FUSED_OPS: frozenset[str] = frozenset({"BiasAdd", "FusedBatchNorm", "Relu", "Relu6", "Elu", "LeakyRelu",
                                       "Prelu", "Sigmoid"})


def unsupported_ops(graph_def) -> dict[str, list[str]]:
    """``{op type: [node names]}`` of the nodes TF.js cannot run (empty when the graph is fine);
    a fused op with an activation TF.js lacks is reported as ``"<op>[<fused ops>]"``."""
    bad: dict[str, list[str]] = {}
    for node in graph_def.node:
        op = node.op
        if op in SUPPORTED_OPS and "fused_ops" in node.attr:
            fused = [s.decode() for s in node.attr["fused_ops"].list.s]
            if not set(fused) <= FUSED_OPS:
                op = f"{op}[{','.join(fused)}]"
        if op not in SUPPORTED_OPS:
            bad.setdefault(op, []).append(node.name)
    return bad
