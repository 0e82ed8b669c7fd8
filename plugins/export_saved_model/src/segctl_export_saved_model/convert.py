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


def build_saved_model(keras_model, perms: list[tuple[int, ...]], names: list[str], out_dir: Path) -> None:
    """Save ``keras_model`` as a SavedModel whose ``serving_default`` takes ``images`` [B,H,W,3] and
    returns ``{name: output}`` in the ONNX layout (each output transposed by its ``perm``)."""
    import tensorflow as tf

    shape = [int(d) for d in keras_model.inputs[0].shape]

    module = tf.Module()
    module.model = keras_model

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32, name=INPUT_NAME)])
    def serve(images):
        outs = keras_model(images, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        return {name: tf.transpose(o, perm) if list(perm) != list(range(len(perm))) else tf.identity(o)
                for name, o, perm in zip(names, outs, perms)}

    module.serve = serve
    tf.saved_model.save(module, str(out_dir), signatures={SIGNATURE: serve})


def save_keras(keras_model, perms: list[tuple[int, ...]], names: list[str], path: Path) -> None:
    """``keras=True``: the same graph as a Keras (tf_keras) model with the ONNX output layout
    (``Permute`` layers, which serialise without Python bytecode, unlike ``Lambda``)."""
    import tf_keras

    outs = [tf_keras.layers.Permute(tuple(p[1:]), name=f"{n}_layout")(o) if list(p) != list(range(len(p))) else o
            for o, p, n in zip(keras_model.outputs, perms, names)]
    tf_keras.Model(inputs=keras_model.inputs, outputs=outs).save(str(path))
