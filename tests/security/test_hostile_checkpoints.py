"""Hostile checkpoints: every crafted file is built here at run time, opened in one fresh process
(conftest.run_isolated), and must be refused with a clear error naming the file, without side
effects, within bounded memory and time. docs/security.md lists each attack and its defence."""
from __future__ import annotations

import json
import os
import struct
import zipfile
from pathlib import Path

import pytest
import torch


def _rewrite(src: Path, dst: Path, fn) -> None:
    """Copy the zip ``src`` to ``dst`` passing each entry through ``fn(name, data) -> (data, method)``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data, method = fn(info.filename, zin.read(info.filename))
            zout.writestr(zipfile.ZipInfo(info.filename), data, compress_type=method)


class _Payload:
    """Pickles as a call to ``fn(*args)``: the classic code-execution gadget."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _safetensors(path: Path, yaml: dict, names=None, meta_text: str | None = None) -> Path:
    """A segctl .safetensors whose metadata describes ``yaml``; the weights are one tiny tensor."""
    from segctl.nn.safetensors_io import write_safetensors

    meta = meta_text or json.dumps({"yaml": yaml, "names": names or {0: "a"}, "task": "segment"})
    with open(path, "wb") as fh:
        write_safetensors(fh, {"x": torch.zeros(1)}, {"format": "segctl", "segctl": meta})
    return path


# ------------------------------------------------------------------ the crafted files

def deflate_bomb(d: Path) -> Path:
    """64 MB of zeros DEFLATE-compressed into a ~64 KB entry: torch would inflate it (1000:1)."""
    torch.save({"model": {"w": torch.zeros(16_000_000)}}, d / "plain.pt")
    _rewrite(d / "plain.pt", d / "bomb.pt",
             lambda n, b: (b, zipfile.ZIP_DEFLATED if "/data/" in n else zipfile.ZIP_STORED))
    (d / "plain.pt").unlink()
    assert (d / "bomb.pt").stat().st_size < 200_000
    return d / "bomb.pt"


def honest_deflated(d: Path) -> Path:
    """Ordinary compression of random weights (ratio ~1) is not a bomb: it must still load."""
    torch.save({"model": {"w": torch.randn(1000)}, "names": {0: "a"}}, d / "p.pt")
    _rewrite(d / "p.pt", d / "packed.pt", lambda n, b: (b, zipfile.ZIP_DEFLATED))
    return d / "packed.pt"


def many_entries(d: Path) -> Path:
    """A zip64 end record declaring 5 million entries (refused before any entry is parsed)."""
    torch.save({"model": {"w": torch.zeros(4)}}, d / "p.pt")
    old, zipfile.ZIP_FILECOUNT_LIMIT = zipfile.ZIP_FILECOUNT_LIMIT, 1  # force the zip64 end record
    try:
        _rewrite(d / "p.pt", d / "many.pt", lambda n, b: (b, zipfile.ZIP_STORED))
    finally:
        zipfile.ZIP_FILECOUNT_LIMIT = old
    data = bytearray((d / "many.pt").read_bytes())
    rec = data.rfind(b"PK\x06\x06")
    assert rec > 0
    struct.pack_into("<QQ", data, rec + 24, 5_000_000, 5_000_000)
    (d / "many.pt").write_bytes(bytes(data))
    return d / "many.pt"


def short_record(d: Path) -> Path:
    """The pickle claims a 2-billion-element storage backed by a 16-byte record."""
    torch.save({"model": {"w": torch.zeros(1_234_567)}}, d / "p.pt")

    def fn(name, data):
        if name.endswith("data.pkl"):
            old = struct.pack("<I", 1_234_567)
            assert old in data
            data = data.replace(old, struct.pack("<I", 2_000_000_000))
        elif "/data/" in name:
            data = data[:16]
        return data, zipfile.ZIP_STORED

    _rewrite(d / "p.pt", d / "lie.pt", fn)
    return d / "lie.pt"


def expanded(d: Path) -> Path:
    """A 4-byte storage viewed as 200 million elements (stride 0): free to load, but the NaN check
    or ``.float()`` would materialise hundreds of MB."""
    torch.save({"model": {"w": torch.zeros(1).expand(200_000_000)}, "yaml": {"nc": 1}}, d / "expand.pt")
    assert (d / "expand.pt").stat().st_size < 10_000
    return d / "expand.pt"


def payload(gadget: str):
    def build(d: Path) -> Path:
        marker = d / f"pwned-{gadget}"
        evil = {
            "os.system": _Payload(os.system, f"touch {marker}"),
            "builtins.exec": _Payload(exec, f"open({str(marker)!r}, 'w').close()"),
            "pathlib.touch": _Payload(Path.touch, marker),
        }[gadget]
        path = d / f"evil-{gadget}.pt"
        torch.save({"model": {"w": torch.zeros(2)}, "train_args": {"x": evil}}, path)
        return path
    return build


def described(name: str, yaml: dict, names=None, meta_text=None):
    def build(d: Path) -> Path:
        return _safetensors(d / f"{name}.safetensors", yaml, names, meta_text)
    return build


def huge_header(d: Path) -> Path:
    """A 20 MB JSON header (a million class names): parsing it would cost hundreds of MB."""
    names = json.dumps({str(i): "c" for i in range(1_500_000)})
    return _safetensors(d / "header.safetensors", {}, meta_text=json.dumps({"names": names}))


def huge_pickle(d: Path) -> Path:
    """A 20 MB data.pkl holding a million small objects (pickled objects expand 10-50x in memory)."""
    torch.save({"model": {"w": torch.zeros(1)}, "junk": [[i] for i in range(2_000_000)]}, d / "pickle.pt")
    return d / "pickle.pt"


CONV = [-1, 1, "Conv", [8, 3, 1]]
# name -> (builder, op, env, expected error class or None, words the message must hold)
CASES = {
    "deflate_bomb": (deflate_bomb, "load", None, "CheckpointError", ["bomb.pt", "declare", "4x the file size"]),
    "honest_deflated": (honest_deflated, "load", None, None, []),
    "many_entries": (many_entries, "load", None, "CheckpointError", ["many.pt", "5000000 entries"]),
    "short_record": (short_record, "load", None, "CheckpointError", ["lie.pt", "corrupt"]),
    "expanded_tensor": (expanded, "load", None, "CheckpointError", ["expand.pt", "storage holds 4"]),
    **{f"payload_{g}{'_env' if env else ''}": (payload(g), "model", env, "UnsafeCheckpointError", ["evil-", "refused"])
       for g in ("os.system", "builtins.exec", "pathlib.touch")
       for env in (None, {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"})},
    # architectures a small file describes: checked by caps and on the meta device, never built for real
    "torch_nn_class": (described("emb", {"nc": 1, "backbone": [[-1, 1, "nn.Embedding", [4_000_000, 16]]]}),
                       "model", None, "UsageError", ["unknown layer type 'nn.Embedding'"]),
    "huge_conv": (described("conv", {"nc": 1, "backbone": [[-1, 1, "Conv", [2048, 3, 2]], [-1, 1, "Conv", [2048, 3, 2]]]}),
                  "model", None, "CheckpointError", ["do not fit its architecture"]),
    "many_repeats": (described("rep", {"nc": 1, "backbone": [[-1, 200_000, "Conv", [8, 3, 1]]]}),
                     "model", None, "UsageError", ["repeats 200000", "1..100"]),
    "many_layers": (described("lay", {"nc": 1, "backbone": [CONV] * 5000}), "model", None, "UsageError",
                    ["5000 layers", "limit 1000"]),
    "many_classes": (described("cls", {}, meta_text=json.dumps({"yaml": {"nc": 1_000_000, "backbone": [CONV]}})),
                     "model", None, "UsageError", ["nc=1000000"]),
    "huge_header": (huge_header, "load", None, "CheckpointError", ["header.safetensors", "implausibly large"]),
    "huge_pickle": (huge_pickle, "load", None, "CheckpointError", ["pickle.pt", "bytes of pickle"]),
    "bool_channels": (described("bool", {"nc": 1, "backbone": [[-1, 1, "Conv", [True, 3, 1]]]}),
                      "model", None, "UsageError", ["channel count True"]),
    "string_scale": (described("scale", {"nc": 1, "scales": {"n": ["a", 1, 2]}, "backbone": [CONV]}),
                     "model", None, "UsageError", ["scale 'n'"]),
    "meta_list": (described("metalist", {}, meta_text="[1, 2]"), "load", None, "CheckpointError",
                  ["metalist.safetensors", "must be a JSON object"]),
    "meta_names": (described("metanames", {}, meta_text='{"names": {"cat": "a"}}'), "load", None, "CheckpointError",
                   ["metanames.safetensors", "'names' keys must be class indices"]),
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory, isolated):
    root = tmp_path_factory.mktemp("hostile_ckpt")
    jobs = []
    for name, (build, op, env, _, _) in CASES.items():
        d = root / name
        d.mkdir()
        jobs.append({"name": name, "op": op, "path": str(build(d)), "env": env})
    return root, isolated(jobs)


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_checkpoint(reports, refused, case):
    root, reps = reports
    _, _, _, kind, words = CASES[case]
    if kind is None:
        assert reps[case]["error"] is None, reps[case]
    else:
        refused(reps[case], kind, *words)
    assert not list((root / case).glob("pwned*")), "a pickle payload ran"


@pytest.mark.parametrize("shape", [[True], [2 ** 64, 0], [1] * 40])
def test_malformed_safetensors_shapes(tmp_path, shape):
    """Booleans, 2^64 dimensions and absurd ranks are refused by the header check (no raw errors)."""
    from segctl.errors import CheckpointError
    from segctl.nn.checkpoint import load_checkpoint

    header = json.dumps({"x": {"dtype": "F32", "shape": shape, "data_offsets": [0, 4]}}).encode()
    header += b" " * (-len(header) % 8)
    path = tmp_path / "shape.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    with pytest.raises(CheckpointError, match="invalid shape"):
        load_checkpoint(path)
