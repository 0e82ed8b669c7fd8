"""The web model weight reader (no TensorFlow needed): plain, float16 and affine-uint8 weights read
back from shards in manifest order; a truncated shard is a clear error; a missing converter names
the environment that works."""
from __future__ import annotations

import builtins

import numpy as np
import pytest

from segctl.errors import CheckpointError, MissingDependencyError
from segctl_export_tfjs.weights import read_weights


def _manifest(tmp_path, split_at: int):
    a = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    b = np.array([7, -1], np.int32)
    c = np.array([0.5, -1.0, 2.0], np.float32)
    d = np.array([0.0, 0.5, 1.0, 2.0], np.float32)
    q = np.round(d / (2 / 255)).astype(np.uint8)  # d quantised: min 0, scale 2/255
    blob = a.tobytes() + b.tobytes() + c.astype(np.float16).tobytes() + q.tobytes()
    (tmp_path / "s1.bin").write_bytes(blob[:split_at])
    (tmp_path / "s2.bin").write_bytes(blob[split_at:])
    manifest = [{"paths": ["s1.bin", "s2.bin"], "weights": [
        {"name": "a", "shape": [2, 3], "dtype": "float32"},
        {"name": "b", "shape": [2], "dtype": "int32"},
        {"name": "c", "shape": [3], "dtype": "float32", "quantization": {"dtype": "float16"}},
        {"name": "d", "shape": [4], "dtype": "float32", "quantization": {"dtype": "uint8", "min": 0.0, "scale": 2 / 255}},
    ]}]
    return manifest, (a, b, c, d)


def test_weights_read_across_shards_and_dequantised(tmp_path):
    manifest, (a, b, c, d) = _manifest(tmp_path, split_at=10)  # a weight straddles the shard boundary
    w = read_weights(manifest, tmp_path)
    np.testing.assert_array_equal(w["a"], a)
    np.testing.assert_array_equal(w["b"], b)
    assert w["c"].dtype == np.float32 and np.allclose(w["c"], c)
    assert w["d"].dtype == np.float32 and np.allclose(w["d"], d, atol=1 / 255)


def test_truncated_shard_names_the_weight(tmp_path):
    manifest, _ = _manifest(tmp_path, split_at=10)
    (tmp_path / "s2.bin").write_bytes((tmp_path / "s2.bin").read_bytes()[:-3])
    with pytest.raises(CheckpointError, match="'d'"):
        read_weights(manifest, tmp_path)


def test_missing_shard_file(tmp_path):
    manifest, _ = _manifest(tmp_path, split_at=10)
    (tmp_path / "s2.bin").unlink()
    with pytest.raises(CheckpointError, match="shard missing"):
        read_weights(manifest, tmp_path)


def test_unimportable_converter_is_exit_3_with_the_environment(monkeypatch):
    from segctl_export_tfjs import exporter

    real = builtins.__import__

    def fake(name, *args, **kw):
        if name.startswith("tensorflowjs"):
            raise ModuleNotFoundError("No module named 'tensorflow_decision_forests'")
        return real(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(MissingDependencyError) as info:
        exporter._converter()
    assert "make install-tfjs" in info.value.hint and "tensorflow_decision_forests" in info.value.message
    assert info.value.exit_code == 3
