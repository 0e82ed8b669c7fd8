"""Fixtures shared by the TensorFlow-family plugins' tests (one definition, in the saved_model plugin)."""
import pytest

try:
    from segctl_export_saved_model.testing import session, tf_workdir, tiny  # noqa: F401
except ImportError:  # the light tests (weights reader, missing converter) need none of these
    pytest.importorskip("segctl_export_saved_model")
