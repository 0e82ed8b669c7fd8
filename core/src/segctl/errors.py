"""The small exception tree segctl uses. Each class carries the process exit code the CLI uses,
and an optional ``hint`` (what to do about it) shown under the message."""
from __future__ import annotations


class SegctlError(Exception):
    """Base: a runtime failure (exit 1)."""

    exit_code = 1
    title = "Error"

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # keep the hint visible in plain tracebacks and logs
        return self.message + (f"\n  hint: {self.hint}" if self.hint else "")


class UsageError(SegctlError):
    """The user asked for something invalid: unknown key, wrong type, missing file (exit 2)."""

    exit_code = 2
    title = "Usage error"


class ConfigError(UsageError):
    """A configuration key or value is invalid."""


class DataError(UsageError):
    """A dataset is missing, malformed or has too many unusable samples."""


class CheckpointError(UsageError):
    """A model file cannot be read (corrupt, unsupported, unsafe)."""


class UnsafeCheckpointError(CheckpointError):
    """A model file references code outside the allow-list; it was refused, not executed."""

    title = "Unsafe checkpoint refused"


class MissingDependencyError(SegctlError):
    """An optional runtime is not installed; ``hint`` is the exact install command (exit 3)."""

    exit_code = 3
    title = "Missing dependency"


class PluginError(SegctlError):
    """A plugin failed to load, conflicts with another, or raised (exit 4)."""

    exit_code = 4
    title = "Plugin error"


class ExportError(SegctlError):
    """An export failed or its artifact did not verify."""

    title = "Export failed"
