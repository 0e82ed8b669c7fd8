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


class PbBackend(TensorFlowBackendBase):
    def __init__(self, path, device="cpu", session=None):
        import tensorflow as tf

        self.path = Path(path)
        self.device = str(device)
        meta = read_yaml_metadata(self.path.parent, stem=self.path.name)
        tensors = meta.get("tensors") or DEFAULT_TENSORS
        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(self.path.read_bytes())
            wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
            fetch = [tensors["outputs"][k] for k in OUTPUTS]
            self._fn = wrapped.prune(feeds=[wrapped.graph.get_tensor_by_name(tensors["inputs"][0])],
                                     fetches=[wrapped.graph.get_tensor_by_name(n) for n in fetch])
        except Exception as e:  # noqa: BLE001 - a corrupt file or unknown tensor names
            raise CheckpointError(f"{self.path}: not a loadable frozen segctl graph ({type(e).__name__}: {e})",
                                  hint="export it again with 'segctl export format=pb'") from e
        shape = wrapped.graph.get_tensor_by_name(tensors["inputs"][0]).shape.as_list()
        self.metadata = meta or default_metadata("pb", shape, None)
        self.batch = shape[0]

    @property
    def file(self) -> Path:
        return self.path

    def _run(self, x: np.ndarray) -> list[np.ndarray]:
        import tensorflow as tf

        return [t.numpy() for t in self._fn(tf.constant(x))]
