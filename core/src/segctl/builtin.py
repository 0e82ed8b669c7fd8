"""The core's own plugin: capabilities that belong to no task, family or format.

Registered by the plugin manager before any entry point, under the name ``core``, and it cannot be
blocked. It provides the ``local`` runner (run a mode in this process: what segctl always did).
Like every entry-point module it imports nothing heavy.
"""
from . import hookimpl
from .specs import RunnerSpec


@hookimpl
def segctl_register_runners():
    return [RunnerSpec(name="local", target="segctl.runners:LocalRunner", modes=(),
                       description="in this process (the default): every mode")]
