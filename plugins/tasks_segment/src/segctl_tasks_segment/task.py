"""``SegmentTask``: the class the ``segment`` task spec points at (one method per mode).

Each method takes the resolved configuration (a plain dict holding every schema key, plus
``model_object``/``source``/``stream`` set by the Python facade) and the session, and hands off
to the engine for that mode. Nothing heavy is imported until a method runs.
"""
from __future__ import annotations


class SegmentTask:
    """Instance segmentation: ``train``, ``val``, ``predict``, ``track``."""

    name = "segment"

    def train(self, cfg: dict, session):
        """Train; returns the trainer (``.best``, ``.last``, ``.metrics``, ``.save_dir``)."""
        from .trainer import SegmentTrainer

        return SegmentTrainer(cfg, session).train()

    def val(self, cfg: dict, session):
        """Validate ``cfg["model"]``; returns the metrics object (``.box``, ``.seg``, ``.speed``)."""
        from .validator import SegmentValidator

        return SegmentValidator(cfg, session).run()

    def job(self, mode: str, cfg: dict, session):
        """``val``/``predict`` as a :class:`segctl.runners.RunnerJob` for runners that execute
        elsewhere (``runner=ray``): see :mod:`.jobs`."""
        from .jobs import make_job

        return make_job(mode, cfg, session)

    def predict(self, cfg: dict, session):
        """Predict on ``cfg["source"]``; a list of Results, or a generator when ``stream`` is true."""
        return self.predictor(cfg, session)(cfg.get("source"), stream=bool(cfg.get("stream")))

    def predictor(self, cfg: dict, session, previous=None):
        """A predictor for ``cfg``: ``previous`` reconfigured when it can serve ``cfg`` (same model,
        device, backend...), else a new one. The facade keeps it between calls, so a loop over
        frames loads and compiles the model once (the optional task contract in docs/contracts.md)."""
        from .predictor import SegmentPredictor

        if previous is not None and isinstance(previous, SegmentPredictor) and previous.reusable_for(cfg):
            previous.configure(cfg)
            return previous
        return SegmentPredictor(cfg, session)

    def track(self, cfg: dict, session):
        """Track objects through ``cfg["source"]`` (video, stream, folder of frames) with the tracker
        ``cfg["tracker"]``; Results carry ``boxes.id``. State persists in ``cfg["track_state"]``."""
        from .tracking import SegmentTrack

        return SegmentTrack(cfg, session)(cfg.get("source"), stream=bool(cfg.get("stream")))
