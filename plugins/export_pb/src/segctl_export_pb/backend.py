"""The TensorFlow backend for frozen ``.pb`` graphs.

The graph is imported into a ``tf.compat.v1.wrap_function`` and pruned to the feed/fetch tensors
named in ``<file>.metadata.yaml``; without that file the conventional names (``images:0`` in,
``Identity:0``/``Identity_1:0`` out) are assumed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from segctl.errors import CheckpointError
from segctl.export.metadata import read_yaml_metadata
from segctl_export_saved_model.backend import default_metadata
from segctl_export_saved_model.backend_base import OUTPUTS, TensorFlowBackendBase

DEFAULT_TENSORS = {"inputs": ["images:0"], "outputs": {"output0": "Identity:0", "output1": "Identity_1:0"}}


def prune_graph(graph_def, feed: str, fetches: list[str]):
    """``(function, input shape)``: ``graph_def`` imported and pruned to ``feed`` -> ``fetches``
    (tensor names). Shared with the TF.js backend, whose model.json is a GraphDef too."""
    import tensorflow as tf

    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    inp = wrapped.graph.get_tensor_by_name(feed)
    fn = wrapped.prune(feeds=[inp], fetches=[wrapped.graph.get_tensor_by_name(n) for n in fetches])
    return fn, inp.shape.as_list()


class GraphBackend(TensorFlowBackendBase):
    """A pruned GraphDef function (``self._fn``) run on NHWC batches; subclasses load it."""

    path: Path

    @property
    def file(self) -> Path:
        return self.path

    def _run(self, x: np.ndarray) -> list[np.ndarray]:
        import tensorflow as tf

        return [t.numpy() for t in self._fn(tf.constant(x))]


class PbBackend(GraphBackend):
    def __init__(self, path, device="cpu", session=None):
        import tensorflow as tf

        self.path = Path(path)
        self.device = str(device)
        meta = read_yaml_metadata(self.path.parent, stem=self.path.name)
        tensors = meta.get("tensors") or DEFAULT_TENSORS
        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(self.path.read_bytes())
            self._fn, shape = prune_graph(graph_def, tensors["inputs"][0], [tensors["outputs"][k] for k in OUTPUTS])
        except Exception as e:  # noqa: BLE001 - a corrupt file or unknown tensor names
            raise CheckpointError(f"{self.path}: not a loadable frozen segctl graph ({type(e).__name__}: {e})",
                                  hint="export it again with 'segctl export format=pb'") from e
        self.metadata = meta or default_metadata("pb", shape, None)
        self.batch = shape[0]
