"""Hook specifications: the whole contract between segctl's core and its plugins.

Every capability of segctl (tasks, architectures, dataset formats, exporters, runtimes, commands,
loggers) is provided through these hooks, by built-in and third-party plugins alike. Plugins
implement them with ``@segctl.hookimpl``; each module named by an entry point in the ``segctl``
group is registered as one plugin.

Conventions (as in pytest): registration hooks return lists of small frozen specs from
:mod:`segctl.specs` and must not import heavy modules; ``firstresult`` hooks stop at the first
non-``None`` answer; lifecycle hooks are notifications whose return values are ignored.
Every hook here has a section in ``docs/hooks.md`` (a test enforces it).
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("segctl")

# --------------------------------------------------------------------------- set-up


@hookspec(historic=True)
def segctl_add_hookspecs(pm):
    """Add hook specifications of your own (for plugins that extend other plugins).

    :param pm: the :class:`pluggy.PluginManager`; call ``pm.add_hookspecs(module)``.

    Historic: plugins registered later still receive the call.
    """


@hookspec(historic=True)
def segctl_configure(session):
    """Called once the session's plugins are loaded, before any command runs.

    :param session: the :class:`segctl.session.Session` (plugin manager, registries, settings).

    Use it to read environment variables or validate your plugin's settings. Historic.
    """


# --------------------------------------------------------------------------- registration


@hookspec
def segctl_register_tasks():
    """Register tasks (``segment``).

    :return: a list of :class:`segctl.specs.TaskSpec`. A task's ``schema`` lists its
        configuration keys; its ``target`` class implements one method per mode.
    """


@hookspec
def segctl_register_models():
    """Register model architectures: layer types and named model configurations.

    :return: a list of :class:`segctl.specs.LayerSpec` (usable in model YAML files) and
        :class:`segctl.specs.ModelConfigSpec` (names such as ``yolov8n-seg``).
    """


@hookspec
def segctl_register_datasets():
    """Register dataset formats and named datasets.

    :return: a list of :class:`segctl.specs.DatasetFormatSpec` (``yolo``, ``coco``) and
        :class:`segctl.specs.DatasetSpec` (ready-made datasets such as ``shapes-seg``).
    """


@hookspec
def segctl_register_exporters():
    """Register export formats.

    :return: a list of :class:`segctl.specs.ExporterSpec`. Exporters declare the options they
        accept, what they require (with the install command) and the formats they build on.
    """


@hookspec
def segctl_register_backends():
    """Register runtimes that load exported artifacts for predict and val.

    :return: a list of :class:`segctl.specs.BackendSpec`, matched on artifact suffixes.
    """


@hookspec
def segctl_register_runners():
    """Register runners: where a task mode executes (``runner=`` key).

    :return: a list of :class:`segctl.specs.RunnerSpec`. ``local`` (this process) is built into
        the core. A runner's ``target`` is a class built with no arguments whose
        ``run(task, mode, cfg, session)`` returns the mode's result. Runners that execute
        elsewhere ask the task for a job (``task.job(mode, cfg, session)``, the
        :class:`segctl.runners.RunnerJob` protocol: items, a CPU ``load`` step, a ``worker``
        that holds the model, a driver-side ``reduce``) and must deliver every item's rows
        exactly once to ``reduce``. Check yours with :func:`segctl.testing.check_runner`.
    """


@hookspec
def segctl_register_trackers():
    """Register multi-object trackers: the ``tracker=`` key of a task's ``track`` mode.

    :return: a list of :class:`segctl.specs.TrackerSpec`. A tracker's ``target`` is a class built
        as ``cls(cfg: dict, frame_rate: float)`` (``cfg``: the user's YAML keys, validated by the
        class against its own defaults) with ``update(boxes, scores, classes, masks=None,
        image=None)`` returning one row ``[x1, y1, x2, y2, track_id, score, class, det_index]``
        per track matched in this frame, and ``reset()``. ``config`` names the packaged YAML
        of defaults users copy. Check yours with :func:`segctl.testing.check_tracker`.
    """


@hookspec
def segctl_register_commands():
    """Register extra top-level CLI commands or command groups.

    :return: a list of :class:`segctl.specs.CommandSpec` whose ``target`` is a ``typer.Typer``
        (``group=True``) or a function. Targets are imported only when the CLI is assembled,
        so keep them light.
    """


# --------------------------------------------------------------------------- decisions


@hookspec(firstresult=True)
def segctl_resolve_uri(uri, kind, session):
    """Turn a location into a local path (download, cache lookup, ...).

    :param uri: what the user wrote (``yolov8n-seg.pt``, ``https://...``, ``hub://...``).
    :param kind: ``"weights"`` or ``"dataset"``.
    :param session: the current session.
    :return: a local path (``str``), or ``None`` to let another plugin answer.

    firstresult: the first non-``None`` answer wins.
    """


@hookspec(firstresult=True)
def segctl_detect_dataset(path, data):
    """Say which dataset format a ``data=`` location is.

    :param path: the resolved path (a YAML file, a JSON file or a folder).
    :param data: the parsed dataset YAML as a dict when ``path`` is a YAML file, else ``None``.
    :return: a registered dataset-format name (``"yolo"``, ``"coco"``) or ``None``.

    firstresult.
    """


@hookspec(firstresult=True)
def segctl_read_checkpoint(path, unsafe_globals):
    """Read a model file that is not a plain-data segctl checkpoint (a foreign pickle format).

    :param path: the file.
    :param unsafe_globals: the pickle globals outside segctl's plain-data set, as listed by
        ``torch.serialization.get_unsafe_globals_in_checkpoint`` (nothing has been executed).
    :return: a plain checkpoint dict (see docs/checkpoints.md) or ``None`` if not recognised.
        Implementations must never execute pickled code (load with ``weights_only=True`` and
        inert stand-ins only).

    firstresult.
    """


# --------------------------------------------------------------------------- lifecycle events


@hookspec
def segctl_on_train_start(trainer):
    """Training is about to start (run directory made, model and data ready)."""


@hookspec
def segctl_on_train_epoch_end(trainer):
    """A training epoch finished (before validation). ``trainer.epoch``, ``trainer.tloss``."""


@hookspec
def segctl_on_fit_epoch_end(trainer, metrics):
    """An epoch finished including validation. :param metrics: flat ``dict[str, float]`` of the
    row written to ``results.csv`` (losses, metrics, learning rates)."""


@hookspec
def segctl_on_train_end(trainer):
    """Training finished (also after early stopping); ``trainer.best`` is the best checkpoint."""


@hookspec
def segctl_on_val_end(validator, metrics):
    """A validation finished. :param metrics: the metrics object (``metrics.box``, ``metrics.seg``)."""


@hookspec
def segctl_on_predict_batch_end(predictor, results):
    """A batch of predictions is ready. :param results: list of ``Results`` for the batch."""


@hookspec
def segctl_on_export_end(exporter, path, metadata):
    """An export finished and verified. :param path: the artifact. :param metadata: its metadata dict.
    :param exporter: the :class:`segctl.export.Exporter` that wrote it; ``None`` when the format ran in
    another environment (``SEGCTL_PYTHON_<FORMAT>``, see ``segctl.export.environments``)."""
