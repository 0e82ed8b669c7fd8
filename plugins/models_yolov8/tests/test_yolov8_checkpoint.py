"""segctl checkpoints: round trips, atomic saves, safetensors validation, unreadable files."""
from __future__ import annotations

import json
import pickle
import struct
import tarfile
import zipfile

import pytest
import torch

from segctl.errors import CheckpointError, SegctlError, UnsafeCheckpointError
from segctl.nn import load_checkpoint, make_checkpoint, model_from_checkpoint, save_checkpoint
from segctl.nn.safetensors_io import write_safetensors


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def ckpt(tiny_seg):
    return make_checkpoint(tiny_seg, epoch=3, train_args={"imgsz": 64, "save_dir": "runs/x"}, imgsz=64)


def test_pt_round_trip_plain_data(ckpt, tmp_path, layers, tiny_seg):
    p = save_checkpoint(ckpt, tmp_path / "best.pt")
    # plain data: loads with weights_only and nothing extra allowed
    raw = torch.load(p, weights_only=True)
    assert raw["format"] == "segctl" and raw["names"] == {0: "class0", 1: "class1", 2: "class2"}
    back = load_checkpoint(p)
    assert _same_weights(back["model"], ckpt["model"]) and back["yaml"] == ckpt["yaml"] and back["epoch"] == 3
    m = model_from_checkpoint(back, layers).eval()
    tiny_seg.eval()
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(m(x)[0], tiny_seg(x)[0])


def test_safetensors_round_trip_without_torch_load(ckpt, tmp_path, layers, monkeypatch):
    p = save_checkpoint(ckpt, tmp_path / "best.safetensors")

    def boom(*a, **k):
        raise AssertionError("torch.load must not be used for safetensors")

    monkeypatch.setattr(torch, "load", boom)
    back = load_checkpoint(p)
    assert _same_weights(back["model"], ckpt["model"])
    for k in ("names", "yaml", "stride", "imgsz", "segctl_version", "task", "train_args"):
        assert back[k] == ckpt[k], k
    model_from_checkpoint(back, layers)


def test_safetensors_interop_with_reference_library(ckpt, tmp_path):
    st = pytest.importorskip("safetensors.torch")
    p = save_checkpoint(ckpt, tmp_path / "a.safetensors")
    theirs = st.load_file(str(p))
    assert _same_weights(theirs, ckpt["model"])
    q = tmp_path / "b.safetensors"
    st.save_file({k: v.contiguous() for k, v in ckpt["model"].items()}, str(q))
    assert _same_weights(load_checkpoint(q)["model"], ckpt["model"])


def _raw_st(path, header: bytes, body: bytes = b""):
    path.write_bytes(struct.pack("<Q", len(header)) + header + body)
    return path


@pytest.mark.parametrize("header,body,msg", [
    (b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
     b"\0" * 4, "duplicate key 'a'"),
    (b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
     b"\0" * 8, "overlapping"),
    (b'{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', b"\0" * 8, "truncated safetensors body"),
    (b'{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', b"\0" * 8, "needs 12"),
    (b'{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4, "unknown or missing dtype"),
    (b'{not json', b"", "not valid JSON"),
])
def test_safetensors_header_validation(tmp_path, header, body, msg):
    p = _raw_st(tmp_path / "x.safetensors", header, body)
    with pytest.raises(CheckpointError, match=msg):
        load_checkpoint(p)


def test_safetensors_header_length_beyond_file(tmp_path):
    p = tmp_path / "x.safetensors"
    p.write_bytes(struct.pack("<Q", 10_000) + b"{}")
    with pytest.raises(CheckpointError, match="header length 10000 exceeds the file size"):
        load_checkpoint(p)


def test_nan_named_on_load_and_refused_on_save(tmp_path, ckpt):
    p = tmp_path / "nan.safetensors"
    bad = dict(ckpt["model"])
    bad["model.0.conv.weight"] = bad["model.0.conv.weight"].clone()
    bad["model.0.conv.weight"][0, 0, 0, 0] = float("nan")
    with open(p, "wb") as fh:
        write_safetensors(fh, bad, {})
    with pytest.raises(CheckpointError, match=r"model\.model\.0\.conv\.weight contains NaN"):
        load_checkpoint(p)
    with pytest.raises(CheckpointError, match="contains NaN"):
        save_checkpoint({**ckpt, "model": bad}, tmp_path / "nan.pt")
    assert not (tmp_path / "nan.pt").exists()


def test_missing_and_unexpected_keys_listed(ckpt, layers):
    sd = dict(ckpt["model"])
    sd.pop("model.22.proto.cv1.conv.weight")
    sd["model.99.extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"missing: model\.22\.proto\.cv1\.conv\.weight.*unexpected: model\.99"):
        model_from_checkpoint({**ckpt, "model": sd}, layers)


def test_non_plain_data_refused(ckpt, tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint\['rng'\]\['py'\] holds a builtins.object"):
        save_checkpoint({**ckpt, "rng": {"py": object()}}, tmp_path / "x.pt")


def test_atomic_save_keeps_previous_file_and_cleans_temps(ckpt, tmp_path, monkeypatch):
    p = save_checkpoint(ckpt, tmp_path / "last.pt")
    before = p.read_bytes()
    stray = tmp_path / ".last.pt.abc123.tmp"
    stray.write_bytes(b"half written")

    def dies(obj, fh, *a, **k):
        fh.write(b"PK\x03\x04partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", dies)
    with pytest.raises(SegctlError, match="cannot write checkpoint .*No space left"):
        save_checkpoint({**ckpt, "epoch": 4}, p)
    assert p.read_bytes() == before
    assert not stray.exists() and list(tmp_path.glob(".*.tmp")) == []
    assert load_checkpoint(p)["epoch"] == 3


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_unreadable_files_have_distinct_errors(tmp_path, ckpt, fixtures_dir):
    good = save_checkpoint(ckpt, tmp_path / "good.pt")
    cases = {}
    (tmp_path / "empty.pt").write_bytes(b"")
    cases["empty.pt"] = "empty file"
    (tmp_path / "trunc.pt").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases["trunc.pt"] = "truncated or corrupt"
    (tmp_path / "image.pt").write_bytes((fixtures_dir / "image.jpg").read_bytes())
    cases["image.pt"] = "not a checkpoint \\(it is a JPEG image\\)"
    with tarfile.open(tmp_path / "legacy_tar.pt", "w") as tf:
        (tmp_path / "sys_info").write_text("{}")
        tf.add(tmp_path / "sys_info", arcname="sys_info")
    cases["legacy_tar.pt"] = "legacy tar-format"
    torch.save({"a": torch.zeros(1)}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    cases["old.pt"] = "legacy \\(pre-zip\\)"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(tmp_path / "ts.pt"))
    cases["ts.pt"] = "TorchScript is not supported"
    (tmp_path / "p4.pt").write_bytes(pickle.dumps({"model": {}}, protocol=4))
    cases["p4.pt"] = "pickle protocol 4 not supported"
    with zipfile.ZipFile(tmp_path / "other.pt", "w") as z:
        z.writestr("readme.txt", "hi")
    cases["other.pt"] = "not a torch checkpoint \\(no data.pkl\\)"
    torch.save({"w": torch.zeros(2)}, tmp_path / "bare.pt")
    cases["bare.pt"] = "a bare state_dict"
    messages = set()
    for name, pattern in cases.items():
        with pytest.raises(CheckpointError, match=pattern) as e:
            load_checkpoint(tmp_path / name)
        assert not isinstance(e.value, UnsafeCheckpointError), name
        messages.add(e.value.message.split(": ", 1)[1])
    assert len(messages) == len(cases)


def test_unknown_globals_refused_without_reader(tmp_path):
    import fractions

    torch.save({"model": fractions.Fraction(1, 3)}, tmp_path / "c.pt")
    with pytest.raises(UnsafeCheckpointError, match="fractions.Fraction"):
        load_checkpoint(tmp_path / "c.pt")
    seen = []
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(tmp_path / "c.pt", read_foreign=lambda p, g: seen.append(g))
    assert seen == [["fractions.Fraction"]]


def test_safetensors_metadata_is_json(ckpt, tmp_path):
    p = save_checkpoint(ckpt, tmp_path / "m.safetensors")
    n = struct.unpack("<Q", p.read_bytes()[:8])[0]
    meta = json.loads(p.read_bytes()[8 : 8 + n])["__metadata__"]
    assert meta["format"] == "segctl" and json.loads(meta["segctl"])["imgsz"] == 64
