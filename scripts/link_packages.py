"""Hard-link installed distributions from one virtual environment into another.

Why: the CoreML format needs an environment of its own (coremltools cannot live beside TensorFlow), and that
environment needs the same torch 2.14.1 as the main one. The only torch 2.14.1 wheel on this machine
is the CUDA build: torch + triton + the nvidia-* libraries take about 5.3 GB, and a second pip install
of them filled the disk of a CI machine. Linking the installed files (the ones each distribution's
pip ``RECORD`` lists, its ``.dist-info`` included) makes pip in the second environment see the same
versions as installed, at no extra disk cost. A later ``pip uninstall`` in either environment only
unlinks its own names, so the other keeps working. Files outside ``site-packages`` (console scripts,
whose shebangs name the first environment's interpreter) are not linked.

Usage: python scripts/link_packages.py SRC_VENV DST_VENV PATTERN...   (patterns are distribution
names with shell wildcards, e.g. ``torch 'nvidia-*'``). Falls back to copying across file systems.
"""

from __future__ import annotations

import csv
import fnmatch
import os
import shutil
import sys
from importlib.metadata import distributions
from pathlib import Path


def site_packages(venv: Path) -> Path:
    """The venv's purelib folder (lib/pythonX.Y/site-packages), found rather than assumed."""
    found = sorted(venv.glob("lib/python*/site-packages"))
    if not found:
        raise SystemExit(f"no site-packages under {venv}: is it a virtual environment?")
    return found[0]


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def selected(src: Path, patterns: list[str]):
    """Distributions installed in ``src`` whose normalised name matches one of ``patterns``."""
    pats = [_norm(p) for p in patterns]
    for dist in distributions(path=[str(src)]):
        name = _norm(dist.metadata["Name"] or "")
        if any(fnmatch.fnmatchcase(name, p) for p in pats):
            yield name, dist


def record_files(dist) -> list[str]:
    """Paths (relative to site-packages) that pip recorded for ``dist``, those inside it only."""
    record = Path(dist._path) / "RECORD"  # the .dist-info folder; RECORD is pip's install manifest
    with record.open(newline="") as fh:
        rel = [row[0] for row in csv.reader(fh) if row]
    return [r for r in rel if not r.startswith("..")]


def link_tree(src: Path, dst: Path, files: list[str]) -> tuple[int, int]:
    """Link (or copy) each file; returns (linked, copied). Existing targets are left as they are."""
    linked = copied = 0
    for rel in files:
        s, d = src / rel, dst / rel
        if not s.is_file() or d.exists():
            continue
        d.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(s, d)
            linked += 1
        except OSError:  # other file system, or links not allowed: a copy still works
            shutil.copy2(s, d)
            copied += 1
    return linked, copied


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: python scripts/link_packages.py SRC_VENV DST_VENV PATTERN...", file=sys.stderr)
        return 2
    src, dst = site_packages(Path(argv[0])), site_packages(Path(argv[1]))
    total = [0, 0]
    names = []
    for name, dist in selected(src, argv[2:]):
        lk, cp = link_tree(src, dst, record_files(dist))
        total[0] += lk
        total[1] += cp
        names.append(f"{name}=={dist.version}")
    if not names:
        print(f"link_packages: nothing in {src} matches {' '.join(argv[2:])}: pip will install them")
        return 0
    print(f"link_packages: {len(names)} distributions into {dst} "
          f"({total[0]} files linked, {total[1]} copied): {', '.join(sorted(names))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
