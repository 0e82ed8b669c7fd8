"""Fixtures shared by the TensorFlow-family plugins' tests (one definition, in the saved_model plugin)."""
from segctl_export_saved_model.testing import session, tf_workdir, tiny  # noqa: F401
