"""Shared fixtures: a session with the model plugins, config and fixture paths."""
from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[1] / "src" / "segctl_models_yolo11" / "configs"
FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "ultralytics"  # shared, one copy


@pytest.fixture(scope="module")
def y11_session():
    from segctl.session import Session

    return Session.create()


@pytest.fixture
def fixtures_dir():
    return FIXTURES
