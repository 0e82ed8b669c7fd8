"""What the Edge TPU compiler will accept, checked before it runs (and without it installed).

Why: ``edgetpu_compiler`` silently maps every op it cannot run to the CPU, and refuses models that
are not fully integer. Checking the flatbuffer first gives a clear error (a float tensor left in
the graph) and a list of the ops that will fall back to the CPU. The op list follows Coral's
published "supported operations" table.
"""
from __future__ import annotations

EDGETPU_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS", "FULLY_CONNECTED",
    "L2_NORMALIZATION", "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM", "MUL", "PACK", "PAD",
    "PRELU", "QUANTIZE", "DEQUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE",
    "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT",
    "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "SQUARED_DIFFERENCE", "TANH", "TRANSPOSE", "TRANSPOSE_CONV",
})
#: tensor types allowed in a full-integer model (int32 for biases and shapes)
INTEGER_TYPES = frozenset({"INT8", "UINT8", "INT32", "INT64", "INT16"})


def inspect(model_bytes: bytes) -> dict:
    """``{"ops": {name: count}, "cpu_ops": [...], "float_tensors": [...], "io": {name: type}}``."""
    from segctl_export_tflite.flatbuffer_meta import tflite_schema

    schema = tflite_schema()
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(bytearray(model_bytes), 0)
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        codes.append(op_names.get(code, f"CUSTOM:{(oc.CustomCode() or b'').decode()}"))
    ops: dict[str, int] = {}
    floats, io = [], {}
    for s in range(model.SubgraphsLength()):
        g = model.Subgraphs(s)
        for i in range(g.OperatorsLength()):
            name = codes[g.Operators(i).OpcodeIndex()]
            ops[name] = ops.get(name, 0) + 1
        for i in range(g.TensorsLength()):
            t = g.Tensors(i)
            kind = type_names.get(t.Type(), str(t.Type()))
            if kind not in INTEGER_TYPES:
                floats.append(f"{(t.Name() or b'').decode()}:{kind}")
        for idx in [g.Inputs(i) for i in range(g.InputsLength())] + [g.Outputs(i) for i in range(g.OutputsLength())]:
            t = g.Tensors(idx)
            io[(t.Name() or b"").decode()] = type_names.get(t.Type(), str(t.Type()))
    return {"ops": ops, "cpu_ops": sorted(o for o in ops if o not in EDGETPU_OPS), "float_tensors": floats, "io": io}
