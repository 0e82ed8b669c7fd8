"""The web model weights (no TensorFlow needed): what segctl's writer encodes (float32, float16 and
affine-uint8 kernels, int64 stored as int32, 4 MB shards) reads back through the reader in manifest
order; a truncated or missing shard is a clear error."""
from __future__ import annotations

import numpy as np
import pytest

from segctl.errors import CheckpointError, ExportError
from segctl_export_tfjs.graph_model import affine_uint8, encode, write_shards
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


def test_affine_uint8_keeps_zero_exact_and_error_within_half_a_step():
    w = np.random.default_rng(0).normal(0, 0.3, (16, 3, 3, 8)).astype(np.float32)
    w[0, 0, 0, :3] = 0.0
    q, scale, low = affine_uint8(w)
    back = q.astype(np.float32) * scale + low
    assert q.dtype == np.uint8 and back[0, 0, 0, :3].tolist() == [0.0, 0.0, 0.0]
    assert np.abs(back - w).max() <= scale / 2 + 1e-7
    q1, s1, low1 = affine_uint8(np.full((3,), 0.7, np.float32))  # constant tensor: exact
    np.testing.assert_allclose(q1 * s1 + low1, 0.7, rtol=1e-6)


@pytest.mark.parametrize("precision, stored", [("float32", None), ("float16", "float16"), ("uint8", "uint8")])
def test_written_weights_read_back(tmp_path, precision, stored):
    rng = np.random.default_rng(1)
    kernel = rng.normal(0, 0.2, (3, 3, 4, 8)).astype(np.float32)
    bias = rng.normal(0, 1, (8,)).astype(np.float32)
    shape = np.array([1, -1, 8], np.int64)
    parts = [encode("k", kernel, precision, kernel=True), encode("b", bias, precision, kernel=False),
             encode("s", shape, precision, kernel=False)]
    entries = [e for e, _ in parts]
    assert entries[0].get("quantization", {}).get("dtype") == stored
    assert "quantization" not in entries[1] and entries[2]["dtype"] == "int32"  # only kernels shrink
    paths = write_shards(b"".join(d for _, d in parts), tmp_path, shard_bytes=100)
    assert len(paths) > 3 and paths[0] == f"group1-shard1of{len(paths)}.bin"
    assert all((tmp_path / p).stat().st_size <= 100 for p in paths)
    w = read_weights([{"paths": paths, "weights": entries}], tmp_path)
    tol = {"float32": 0, "float16": 1e-3, "uint8": (kernel.max() - kernel.min()) / 255}[precision]
    assert np.abs(w["k"] - kernel).max() <= tol + 1e-7
    np.testing.assert_array_equal(w["b"], bias)
    np.testing.assert_array_equal(w["s"], shape)


def test_integers_beyond_int32_are_refused():
    with pytest.raises(ExportError, match="beyond int32"):
        encode("big", np.array([2**40], np.int64), "float32", kernel=False)
