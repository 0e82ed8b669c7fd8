"""scripts/link_packages.py: what it links is what pip recorded, as hard links, and pip-visible."""
from __future__ import annotations

import importlib.util
import os
from importlib.metadata import distributions
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "link_packages.py"


def _load():
    spec = importlib.util.spec_from_file_location("link_packages", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _fake_dist(sp: Path, name: str, version: str, files: dict[str, str], extra_record: list[str] = ()):
    """Write a package and a .dist-info with METADATA and RECORD, as pip leaves them."""
    info = sp / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    for rel, text in files.items():
        (sp / rel).parent.mkdir(parents=True, exist_ok=True)
        (sp / rel).write_text(text)
    rows = list(files) + [f"{info.name}/METADATA", f"{info.name}/RECORD"] + list(extra_record)
    (info / "RECORD").write_text("".join(f"{r},,\n" for r in rows))


def test_links_recorded_files_of_matching_distributions_only(tmp_path):
    src, dst = tmp_path / "a", tmp_path / "b"
    ssp = src / "lib" / "python3.11" / "site-packages"
    dsp = dst / "lib" / "python3.11" / "site-packages"
    dsp.mkdir(parents=True)
    _fake_dist(ssp, "torch", "2.14.1", {"torch/__init__.py": "x = 1\n", "torch/lib/libt.so": "bin"},
               extra_record=["../../../bin/torchrun"])
    _fake_dist(ssp, "nvidia-cublas", "13.1", {"nvidia/cublas/lib/libcublas.so": "bin"})
    _fake_dist(ssp, "numpy", "2.4.6", {"numpy/__init__.py": "y = 2\n"})
    (ssp / "torch" / "stray.txt").write_text("not recorded")

    assert _load().main([str(src), str(dst), "torch", "nvidia-*"]) == 0

    for rel in ("torch/__init__.py", "torch/lib/libt.so", "nvidia/cublas/lib/libcublas.so"):
        assert os.stat(dsp / rel).st_ino == os.stat(ssp / rel).st_ino, rel  # a link, not a copy
    assert not (dsp / "numpy").exists()  # not asked for
    assert not (dsp / "torch" / "stray.txt").exists()  # not in RECORD
    assert not (dst / "bin").exists()  # console scripts name the other interpreter
    found = {d.metadata["Name"]: d.version for d in distributions(path=[str(dsp)])}
    assert found == {"torch": "2.14.1", "nvidia-cublas": "13.1"}  # what pip sees as installed


def test_nothing_matching_is_not_an_error(tmp_path, capsys):
    for v in ("a", "b"):
        (tmp_path / v / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    assert _load().main([str(tmp_path / "a"), str(tmp_path / "b"), "torch"]) == 0
    assert "pip will install them" in capsys.readouterr().out


def test_usage_and_missing_venv(tmp_path):
    mod = _load()
    assert mod.main([str(tmp_path)]) == 2
    with pytest.raises(SystemExit, match="no site-packages"):
        mod.main([str(tmp_path / "nope"), str(tmp_path), "torch"])
