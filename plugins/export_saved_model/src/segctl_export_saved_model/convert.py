"""ONNX -> TensorFlow with onnx2tf, then a SavedModel whose outputs keep the ONNX default layout.

Why onnx2tf: it is the maintained ONNX->TF converter (onnx-tf is archived) and it turns the NCHW
graph into an NHWC one without a transpose around every convolution, which is what TFLite and
Edge TPU need. It transposes 4-D outputs to NHWC too, so the prototypes would come out
``[B, h, w, 32]``; segctl promises the ONNX layout (``output0`` [B, 4+nc+32, N], ``output1``
[B, 32, h, w]), so the SavedModel's serving signature transposes back. Which output needs which
permutation is decided *numerically* (ONNX Runtime vs the converted graph on one sample), because
shapes alone are ambiguous when ``h == w == 32``.

onnx2tf's own sanity check loads ``calibration_image_sample_data_20x128x128x3_float32.npy`` from
the working directory and downloads it when absent; segctl writes a seeded local sample and runs
the converter inside a private working directory, so an export never touches the network.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from pathlib import Path

import numpy as np

CALIBRATION_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"
SIGNATURE = "serving_default"
PARTS_SIGNATURE = "serving_parts"
PART_PREFIX = "output0_part"
INPUT_NAME = "images"


@contextlib.contextmanager
def _private_cwd():
    """Run inside a temporary directory holding onnx2tf's sample file, restoring the cwd after."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="segctl-onnx2tf-") as tmp:
        sample = np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32)
        np.save(Path(tmp) / CALIBRATION_FILE, sample)
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(old)


def onnx_to_keras(onnx_path: str | os.PathLike):
    """Convert the ONNX file to an in-memory tf_keras model (NHWC input) without writing files."""
    import onnx2tf

    with _private_cwd():
        return onnx2tf.convert(
            input_onnx_file_path=str(Path(onnx_path).resolve()), output_folder_path="saved_model",
            disable_model_save=True, non_verbose=True, verbosity="error",
        )


def onnx_outputs(onnx_path: str | os.PathLike, x_nchw: np.ndarray) -> tuple[list[str], list[np.ndarray]]:
    """Names and values of the ONNX outputs on ``x_nchw`` (ONNX Runtime, CPU)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return names, sess.run(names, {sess.get_inputs()[0].name: x_nchw.astype(np.float32)})


def find_permutations(tf_outs: list[np.ndarray], onnx_outs: list[np.ndarray]) -> list[tuple[int, ...]]:
    """For each ONNX output, the permutation of the matching TF output that reproduces it best."""
    perms = []
    for ref, got in zip(onnx_outs, tf_outs):
        best, best_err = None, np.inf
        for perm in itertools.permutations(range(got.ndim)):
            if perm[0] != 0:
                continue  # the batch axis never moves
            cand = np.transpose(got, perm)
            if cand.shape != ref.shape:
                continue
            err = float(np.abs(cand - ref).max())
            if err < best_err:
                best, best_err = perm, err
        if best is None:
            raise ValueError(f"no axis order of a converted output {got.shape} matches the ONNX output {ref.shape}")
        perms.append(best)
    return perms


def parts_model(keras_model, x_nhwc: np.ndarray, perm: tuple[int, ...]):
    """A model whose outputs are the tensors concatenated into the first output (boxes, class
    scores, mask coefficients), then the other outputs; None when that output is no concatenation.

    Why: ``output0`` joins boxes in pixels (0..imgsz) with scores in 0..1. Full-integer TFLite gives
    a tensor one scale, so the scores of a quantised ``output0`` round to zero (mask mAP 0). Int8
    models are therefore built from these parts, each with its own scale, and the backend joins
    them after dequantising. The split is checked numerically: the parts, laid out like
    ``output0`` and joined on its channel axis, must reproduce it."""
    import tf_keras

    out0 = keras_model.outputs[0]
    layer, node_index, _ = out0._keras_history
    if getattr(getattr(layer, "function", None), "__name__", "") != "concat":
        return None
    args = layer._inbound_nodes[node_index].call_args
    parts = list(args[0]) if args and isinstance(args[0], (list, tuple)) else []
    if len(parts) < 2:
        return None
    model = tf_keras.Model(inputs=keras_model.inputs, outputs=parts + list(keras_model.outputs[1:]))
    got = [np.transpose(np.asarray(t), perm) for t in model(x_nhwc, training=False)[:len(parts)]]
    whole = np.transpose(np.asarray(keras_model(x_nhwc, training=False)[0]), perm)
    if sum(g.shape[1] for g in got) != whole.shape[1] or not np.allclose(np.concatenate(got, 1), whole, atol=1e-5):
        return None
    model.n_parts = len(parts)
    return model


def _layout(tf, o, perm):
    return tf.transpose(o, perm) if list(perm) != list(range(len(perm))) else tf.identity(o)


def build_saved_model(keras_model, perms: list[tuple[int, ...]], names: list[str], out_dir: Path,
                      parts=None) -> None:
    """Save ``keras_model`` as a SavedModel whose ``serving_default`` takes ``images`` [B,H,W,3] and
    returns ``{name: output}`` in the ONNX layout (each output transposed by its ``perm``).

    With ``parts`` (from :func:`parts_model`) a second signature, ``serving_parts``, returns
    ``output0`` as ``output0_part0..k`` (same layout, joined on axis 1 they are ``output0``) plus
    the other outputs; int8 TFLite and Edge TPU are converted from it."""
    import tensorflow as tf

    shape = [int(d) for d in keras_model.inputs[0].shape]
    spec = tf.TensorSpec(shape, tf.float32, name=INPUT_NAME)

    module = tf.Module()
    module.model = keras_model

    @tf.function(input_signature=[spec])
    def serve(images):
        outs = keras_model(images, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        return {name: _layout(tf, o, perm) for name, o, perm in zip(names, outs, perms)}

    module.serve = serve
    signatures = {SIGNATURE: serve}
    if parts is not None:
        module.parts_model = parts
        k = parts.n_parts

        @tf.function(input_signature=[spec])
        def serve_parts(images):
            outs = parts(images, training=False)
            res = {f"{PART_PREFIX}{i}": _layout(tf, o, perms[0]) for i, o in enumerate(outs[:k])}
            res.update({name: _layout(tf, o, perm) for name, o, perm in zip(names[1:], outs[k:], perms[1:])})
            return res

        module.serve_parts = serve_parts
        signatures[PARTS_SIGNATURE] = serve_parts
    tf.saved_model.save(module, str(out_dir), signatures=signatures)


def has_signature(saved_model: str | os.PathLike, key: str) -> bool:
    """Whether the SavedModel at ``saved_model`` defines signature ``key`` (read from its proto)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(saved_model) / "saved_model.pb").read_bytes())
    return any(key in mg.signature_def for mg in proto.meta_graphs)


def save_keras(keras_model, perms: list[tuple[int, ...]], names: list[str], path: Path) -> None:
    """``keras=True``: the same graph as a Keras (tf_keras) model with the ONNX output layout
    (``Permute`` layers, which serialise without Python bytecode, unlike ``Lambda``)."""
    import tf_keras

    outs = [tf_keras.layers.Permute(tuple(p[1:]), name=f"{n}_layout")(o) if list(p) != list(range(len(p))) else o
            for o, p, n in zip(keras_model.outputs, perms, names)]
    tf_keras.Model(inputs=keras_model.inputs, outputs=outs).save(str(path))
