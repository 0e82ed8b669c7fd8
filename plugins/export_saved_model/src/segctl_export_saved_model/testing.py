"""Test fixtures shared by the TensorFlow-family plugins (saved_model, pb, tflite, edgetpu): each plugin's
conftest imports them, so the set-up lives once. Importing this module also puts torch's native
stack before TensorFlow's (the reverse order segfaults)."""
from __future__ import annotations

import os

import pytest

from segctl.export.preload import torch_stack_first

torch_stack_first()  # torch's native stack before TensorFlow's (the reverse order segfaults)


@pytest.fixture(scope="session")
def tf_workdir(tmp_path_factory):
    """A working directory for exports of in-memory models (their ONNX step lands in the cwd)."""
    path = tmp_path_factory.mktemp("tflite")
    old = os.getcwd()
    os.chdir(path)
    yield path
    os.chdir(old)


@pytest.fixture(scope="session")
def session():
    from segctl.session import Session

    return Session.create()


@pytest.fixture(scope="session")
def tiny():
    from segctl.export.testing import tiny_model

    return tiny_model(nc=3)
