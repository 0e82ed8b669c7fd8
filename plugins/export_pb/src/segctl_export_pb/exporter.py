"""The GraphDef exporter: the SavedModel's serving function frozen into one ``.pb`` file.

Why frozen from the SavedModel: variables become constants, so the file runs in any TensorFlow
(1.x style ``import_graph_def`` included) without the variables folder. The tensor names a
consumer must feed and fetch (``images:0``, ``Identity:0``...) are not chosen by segctl but by
TensorFlow's freezing, so they are written to ``<file>.metadata.yaml`` (``tensors``) and the backend
reads them from there.
"""
from __future__ import annotations

from pathlib import Path

from segctl.export.base import Exporter
from segctl.export.metadata import write_yaml_metadata
from segctl_export_saved_model.convert import SIGNATURE

from .plugin import OPTIONS


def freeze(saved_model: Path):
    """``(graph_def, input_names, output_names_by_key)`` of the SavedModel's serving signature."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn = tf.saved_model.load(str(saved_model)).signatures[SIGNATURE]
    frozen = convert_variables_to_constants_v2(fn)
    keys = sorted(fn.structured_outputs)  # tf.nest flattens a dict in sorted-key order
    inputs = [t.name for t in frozen.inputs if t.dtype != tf.resource]
    return frozen.graph.as_graph_def(), inputs, dict(zip(keys, (t.name for t in frozen.outputs)))


class PbExporter(Exporter):
    """``<stem>.pb`` frozen graphs with ``<stem>.pb.metadata.yaml`` beside them."""

    name = "pb"
    suffix = ".pb"
    options = OPTIONS
    after = ("saved_model",)
    backend = "pb"
    tolerance = {"rtol": 1e-3, "atol": 2e-3, "iou": 0.99}

    def export(self, model, output: Path, args: dict, deps: dict, metadata: dict) -> Path:
        graph_def, inputs, outputs = freeze(Path(deps["saved_model"]))
        output.write_bytes(graph_def.SerializeToString())
        metadata["preprocess"] = {**metadata.get("preprocess", {}), "layout": "NHWC"}
        metadata["tensors"] = {"inputs": inputs, "outputs": outputs}
        write_yaml_metadata(output.parent, metadata, stem=output.name)
        return output
