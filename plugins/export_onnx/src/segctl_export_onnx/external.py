"""Refuse ONNX files whose external data would be read from outside the model's folder.

Why: an ONNX file names its external weight files by relative path, and ONNX Runtime opens
whatever it names. A model downloaded from anywhere could point at ``../../home/user/.ssh/id_rsa``
or ``/etc/passwd`` (absolute), or ship a symlink leading out of its folder. Every location is checked
on the parsed protobuf (external data *not* loaded) before a runtime session is created: initializers,
sparse initializers, tensor and sparse-tensor attributes, subgraphs, and the nodes of local functions
(``model.functions``). The target must be a regular file (a FIFO or ``/dev/zero`` linked in would block
or read forever) and the declared ``offset + length`` must lie inside it, so reads are bounded.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from segctl.errors import CheckpointError


def _tensors(model) -> Iterator:
    """Every TensorProto of ``model``: graph, subgraphs and local functions (initializers, sparse
    initializers, tensor / sparse-tensor attributes); walked iteratively."""
    stack = [model.graph, *model.functions]
    while stack:
        g = stack.pop()
        if hasattr(g, "initializer"):  # a GraphProto (a FunctionProto has only nodes)
            yield from g.initializer
            for sparse in g.sparse_initializer:
                yield sparse.values
                yield sparse.indices
        for node in g.node:
            for attr in node.attribute:
                if attr.HasField("t"):
                    yield attr.t
                yield from attr.tensors
                sparse = [attr.sparse_tensor] if attr.HasField("sparse_tensor") else []
                for sp in [*sparse, *attr.sparse_tensors]:
                    yield sp.values
                    yield sp.indices
                if attr.HasField("g"):
                    stack.append(attr.g)
                stack.extend(attr.graphs)


def check_external_data(path: str | os.PathLike, model=None) -> None:
    """Raise :class:`CheckpointError` if any external-data location of the ONNX file at ``path``
    is absolute, contains ``..`` or resolves (through symlinks) outside the file's folder."""
    import onnx

    path = Path(path)
    if model is None:
        model = onnx.load(str(path), load_external_data=False)
    base = Path(os.path.realpath(path.absolute().parent))
    for tensor in _tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        entries = {e.key: e.value for e in tensor.external_data}
        location = entries.get("location", "")
        bad = not location or os.path.isabs(location) or Path(location).drive or ".." in Path(location).parts
        if not bad:
            target = Path(os.path.realpath(base / location))
            bad = target != base and base not in target.parents
        if bad:
            raise CheckpointError(
                f"{path}: tensor {tensor.name!r} stores its data at {location!r}, outside the model's folder; refused",
                hint="external data files must sit in the same folder as the .onnx file (no absolute paths, '..' or symlinks out)",
            )
        if not target.exists():
            continue  # ONNX Runtime reports the missing file itself
        if not stat.S_ISREG(target.stat().st_mode):
            raise CheckpointError(f"{path}: tensor {tensor.name!r} stores its data in {location!r}, which is not a "
                                  "regular file; refused")
        try:
            offset, length = int(entries.get("offset", 0)), int(entries.get("length", -1))
        except ValueError as e:
            raise CheckpointError(f"{path}: tensor {tensor.name!r} has a non-integer external offset/length") from e
        size = target.stat().st_size
        if offset < 0 or offset > size or length > size - offset:
            raise CheckpointError(f"{path}: tensor {tensor.name!r} declares bytes {offset}+{length} of {location!r}, "
                                  f"which holds {size}; refused", hint="the external data file is truncated or crafted")
