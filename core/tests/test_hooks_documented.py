"""Every hook has a docstring and a section in docs/hooks.md (add a hook → document it)."""
import inspect
import re
from pathlib import Path

from segctl import hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


def _hooks():
    return [n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("segctl_")]


def test_every_hook_has_docstring():
    for name in _hooks():
        assert (getattr(hookspecs, name).__doc__ or "").strip(), name


def test_every_hook_has_a_docs_section_and_no_stale_ones():
    text = DOCS.read_text()
    documented = set(re.findall(r"^###? `?(segctl_\w+)", text, flags=re.M))
    assert set(_hooks()) - documented == set(), "hooks missing from docs/hooks.md"
    assert documented - set(_hooks()) == set(), "docs/hooks.md documents hooks that do not exist"
