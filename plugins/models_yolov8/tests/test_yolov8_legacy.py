"""Ultralytics ``.pt`` files: exact outputs from the reference fixture, crafted pickles refused."""
from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from segctl.errors import CheckpointError, UnsafeCheckpointError
from segctl.nn import load_checkpoint, model_from_checkpoint
from segctl_models_yolov8 import plugin
from segctl_models_yolov8.legacy import read_ultralytics

HERE = Path(__file__).resolve().parent
GOOD = ["plain", "variants", "last"]
MANY = [f"plain{i}" for i in range(1, 8)]
BAD = ["os_system", "exec", "popen", "mixed", "disguised", "gadget", "cyclic", "junk_build"]


def _craft(out, kinds):
    marker = out / "PWNED"
    subprocess.run([sys.executable, str(HERE / "fake_ultralytics.py"), str(out), ",".join(kinds), str(marker)],
                   check=True)
    assert not marker.exists()
    return out, marker


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    """Crafted checkpoints, written by one subprocess that owns a fake ``ultralytics`` package."""
    return _craft(tmp_path_factory.mktemp("legacy"), GOOD + BAD)


def hook_reader(path, unsafe):
    return plugin.segctl_read_checkpoint(path=path, unsafe_globals=unsafe)


def test_reference_fixture_matches_onnx_outputs(fixtures_dir, layers):
    before = set(torch.serialization.get_safe_globals())
    ckpt = load_checkpoint(fixtures_dir / "yolov8n-seg-shapes.pt", read_foreign=hook_reader)
    assert "ultralytics" not in sys.modules
    assert set(torch.serialization.get_safe_globals()) == before
    assert len(ckpt["model"]) == 417 and ckpt["task"] == "segment" and ckpt["imgsz"] == 320
    assert ckpt["names"][0] == "circle" and len(ckpt["names"]) == 7 and ckpt["stride"] == [8.0, 16.0, 32.0]
    model = model_from_checkpoint(ckpt, layers).eval()
    x = torch.from_numpy(np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32))
    ref = np.load(fixtures_dir / "onnx_reference_outputs.npz")
    with torch.no_grad():
        out0, out1 = model(x)
    d0 = np.abs(out0.numpy() - ref["output0"]).max()
    d1 = np.abs(out1.numpy() - ref["output1"]).max()
    print(f"max abs diff vs reference ONNX: output0 {d0:.2e}, output1 {d1:.2e}")
    assert out0.shape == ref["output0"].shape and out1.shape == ref["output1"].shape
    assert d0 <= 1e-3 and d1 <= 1e-3


def test_crafted_legacy_variants_load(crafted, layers):
    out, _ = crafted
    ref = torch.load(out / "reference_0.pt", weights_only=True)
    for kind in ("plain", "variants", "last"):
        ckpt = load_checkpoint(out / f"{kind}.pt", read_foreign=hook_reader)
        assert all(torch.equal(ckpt["model"][k], v.half()) for k, v in ref.items()), kind
        assert ckpt["names"] == {0: "a", 1: "b"} and ckpt["yaml"]["scale"] == "t"
        model_from_checkpoint(ckpt, layers)  # strict
    v = read_ultralytics(out / "variants.pt")
    assert v["best_fitness"] == 0.625 and v["train_args"]["save_dir"] == "/tmp/r"
    assert read_ultralytics(out / "last.pt")["epoch"] == 3  # ema used, model=None
    assert "ultralytics" not in sys.modules


@pytest.mark.parametrize("kind,pattern", [
    ("os_system", "outside the allow-list: posix.system"),
    ("exec", "outside the allow-list: builtins.exec"),
    ("popen", r"outside the allow-list: .*Popen"),
    ("mixed", "outside the allow-list: posix.system"),
    ("disguised", "tries to call ultralytics.nn.tasks.SegmentationModel"),
    ("gadget", "unrecognized function <inert OrderedDict.__init__>"),
])
def test_payloads_refused(crafted, kind, pattern, monkeypatch):
    out, marker = crafted
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # must not weaken anything
    with pytest.raises(UnsafeCheckpointError, match=pattern):
        load_checkpoint(out / f"{kind}.pt", read_foreign=hook_reader)
    with pytest.raises(UnsafeCheckpointError):
        read_ultralytics(out / f"{kind}.pt")
    assert not marker.exists()


@pytest.mark.parametrize("kind,pattern", [("cyclic", "cyclic module graph"), ("junk_build", "_parameters is a list")])
def test_hostile_structure_refused(crafted, kind, pattern):
    out, _ = crafted
    with pytest.raises(CheckpointError, match="malformed checkpoint structure.*" + pattern) as e:
        read_ultralytics(out / f"{kind}.pt")
    assert not isinstance(e.value, UnsafeCheckpointError)


def test_hook_ignores_non_ultralytics_files(tmp_path):
    assert plugin.segctl_read_checkpoint(path=tmp_path / "x.pt", unsafe_globals=["posix.system"]) is None


@pytest.mark.slow
def test_concurrent_loads(tmp_path):
    out, _ = _craft(tmp_path, ["plain"] + MANY)
    before = set(torch.serialization.get_safe_globals())
    names = ["plain"] + [f"plain{i}" for i in range(1, 8)]
    results, errors = {}, []

    def work(n):
        try:
            results[n] = read_ultralytics(out / f"{n}.pt")["model"]
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 8
    for i, n in enumerate(names):
        ref = torch.load(out / f"reference_{i}.pt", weights_only=True)
        assert all(torch.equal(results[n][k], v.half()) for k, v in ref.items()), n
    assert set(torch.serialization.get_safe_globals()) == before


def test_no_unsafe_loading_in_sources():
    roots = [HERE.parent / "src", Path(__import__("segctl.nn").nn.__file__).parent]
    for root in roots:
        for p in root.rglob("*.py"):
            text = p.read_text()
            for bad in ("weights_only=" + "False", "pickle." + "load", "yaml." + "load(", r"(?<![\w.])eval\("):
                assert not re.search(bad if bad.startswith("(?") else re.escape(bad), text), f"{p} contains {bad}"
