"""The backend for ``<stem>_web_model/`` folders: the TF.js graph model rebuilt and run in TensorFlow.

Why TensorFlow and not a JavaScript runtime: predict/val run in Python, and a TF.js graph model is
a TensorFlow GraphDef in JSON (``modelTopology``) whose constant values were moved into weight
shards. Parsing the JSON back into a GraphDef, filling each weight into its ``Const`` node and
importing the graph runs exactly the ops and values a browser would (the converter's fused ops,
e.g. ``_FusedConv2D``, are TensorFlow kernels). Feeds and fetches come from ``model.json``'s
``signature``; metadata from ``metadata.yaml``, else ``userDefinedMetadata.segctl`` in ``model.json``
(a folder copied without the YAML still knows its class names).
"""
from __future__ import annotations

import json
from pathlib import Path

from segctl.errors import CheckpointError
from segctl.export.metadata import read_yaml_metadata
from segctl_export_pb.backend import GraphBackend, prune_graph
from segctl_export_saved_model.backend import default_metadata
from segctl_export_saved_model.backend_base import OUTPUTS

from .weights import read_weights

MODEL_JSON = "model.json"


def load_graph_model(folder: Path):
    """``(graph_def, {input: tensor}, {output key: tensor}, user metadata)`` of a web model folder."""
    import tensorflow as tf
    from google.protobuf import json_format

    path = folder / MODEL_JSON
    if not path.is_file():
        raise CheckpointError(f"{folder}: no {MODEL_JSON}", hint="export it with 'segctl export format=tfjs'")
    spec = json.loads(path.read_text(encoding="utf-8"))
    if spec.get("format") != "graph-model" or "modelTopology" not in spec:
        raise CheckpointError(f"{path}: not a TF.js graph model (format {spec.get('format')!r})",
                              hint="segctl exports and runs graph models; export again with format=tfjs")
    graph_def = json_format.ParseDict(spec["modelTopology"], tf.compat.v1.GraphDef(), ignore_unknown_fields=True)
    weights = read_weights(spec.get("weightsManifest", []), folder)
    nodes = {n.name: n for n in graph_def.node}
    for name, value in weights.items():
        node = nodes.get(name)
        if node is None:
            raise CheckpointError(f"{path}: weight {name!r} has no node in the graph",
                                  hint="model.json and the shards come from different exports")
        if node.attr["dtype"].type:  # the converter stores int64 constants as int32 (TF.js has no int64)
            value = value.astype(tf.as_dtype(node.attr["dtype"].type).as_numpy_dtype)
        else:
            node.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
    sig = spec.get("signature") or {}
    inputs = {k: v["name"] for k, v in (sig.get("inputs") or {}).items()}
    outputs = {k: v["name"] for k, v in (sig.get("outputs") or {}).items()}
    meta = (spec.get("userDefinedMetadata") or {}).get("segctl") or {}
    return graph_def, inputs, outputs, meta


def int_keys(meta: dict) -> dict:
    """``meta`` with ``names`` keyed by int again (JSON object keys are always strings)."""
    if isinstance(meta.get("names"), dict):
        meta = {**meta, "names": {int(k): v for k, v in meta["names"].items()}}
    return meta


class TfjsBackend(GraphBackend):
    def __init__(self, path, device="cpu", session=None):
        self.path = Path(path)
        self.device = str(device)
        folder = self.path.parent if self.path.name == MODEL_JSON else self.path
        graph_def, inputs, outputs, meta = load_graph_model(folder)
        if not inputs or not all(k in outputs for k in OUTPUTS):
            raise CheckpointError(f"{folder}: model.json signature lacks images/output0/output1",
                                  hint="export it again with 'segctl export format=tfjs'")
        try:
            self._fn, shape = prune_graph(graph_def, next(iter(inputs.values())), [outputs[k] for k in OUTPUTS])
        except Exception as e:  # noqa: BLE001 - an op TensorFlow lacks, or a malformed topology
            raise CheckpointError(f"{folder}: the graph model does not import into TensorFlow ({type(e).__name__}: {e})",
                                  hint="export it again with 'segctl export format=tfjs'") from e
        self.metadata = read_yaml_metadata(folder) or int_keys(meta) or default_metadata("tfjs", shape, None)
        self.batch = shape[0]


class NodeTfjsBackend(TfjsBackend):
    """The same folder run in **TensorFlow.js on Node** instead of TensorFlow: same metadata and
    call contract (NCHW torch in, ``(pred, proto)`` out, batch split into the model's batch), every
    forward pass executed by TF.js (``js/run_model.cjs``, one Node process per call, pure-JS
    kernels: slow). For checking that what a browser computes is what PyTorch computes."""

    def __init__(self, path, device="cpu", session=None, modules: Path | None = None):
        super().__init__(path, device, session)
        self.folder = self.path.parent if self.path.name == MODEL_JSON else self.path
        self.modules = modules

    def _run(self, x):
        from .node_runner import run_in_node

        out = run_in_node(self.folder, x, self.modules)
        return [out[k] for k in OUTPUTS]
