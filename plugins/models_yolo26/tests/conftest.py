"""Shared fixtures: a session with the model plugins, and the reference fixture paths."""
from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "ultralytics"  # shared, one copy


@pytest.fixture(scope="module")
def y26_session():
    from segctl.session import Session

    return Session.create()


@pytest.fixture
def fixtures_dir():
    return FIXTURES
