"""Track mode: the predictor's stream of Results, with a tracker's ids attached.

Why a wrapper and not a second predictor: detection is the same in predict and track mode (every
backend, every source); tracking only adds an association step per frame. The tracker is a plugin
(``segctl_register_trackers``) chosen with ``tracker=``. Each output row names the detection the
track took (``det_index``), and the result is built from that detection's box, score, class and
mask: a track's mask is the mask predicted for it in *this* frame, never dropped or reused.

State lives in ``cfg["track_state"]`` -- a dict the Python facade keeps between ``track`` calls
when ``persist=True`` and replaces otherwise -- so feeding a video frame by frame continues the
same tracks, and a new video (another path) resets the tracker. Outputs (``save``: one colour per
track, its id and a trail; ``save_txt``: MOT rows; a per-video summary of tracks, printed and
written to ``tracks.json``) go to ``runs/segment/track[N]/``.
"""
from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path

import numpy as np
import torch

from . import progress
from .sources import VID_SUFFIXES, is_stream

TRAIL = 30  # centres kept per track for the drawn trail


def resolve_tracker(value, session):
    """``tracker=`` → (spec, user keys). A YAML file's ``tracker_type`` names the tracker and its
    other keys configure it; otherwise the value is a registered name or alias."""
    import yaml

    from segctl.errors import ConfigError

    text = str(value or "bytetrack")
    user: dict = {}
    p = Path(text).expanduser()
    if p.suffix.lower() in (".yaml", ".yml") and p.is_file():
        try:
            user = yaml.safe_load(p.read_text(encoding="utf-8-sig")) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"tracker file {p} is not valid YAML: {e}") from e
        if not isinstance(user, dict) or not user.get("tracker_type"):
            raise ConfigError(f"tracker file {p} must be a mapping with a 'tracker_type:' key",
                              hint="copy a packaged one: segctl_trackers/cfg/bytetrack.yaml (docs/track.md)")
        user = dict(user)
        text = str(user.pop("tracker_type"))
    return session.registry.get("trackers", text), user


class TrackState:
    """Per-sequence state kept across ``track`` calls: the tracker, the sequence key, frame count,
    trails and the track summary."""

    def __init__(self, spec, user_cfg: dict):
        self.spec, self.user_cfg = spec, user_cfg
        self.tracker = None
        self.key = None
        self.count = 0
        self.trails: dict[int, deque] = {}
        self.summary: dict[int, dict] = {}

    def begin(self, key: str, fps: float) -> bool:
        """Start sequence ``key`` unless it is the current one; returns True when it reset."""
        if key == self.key and self.tracker is not None:
            return False
        if self.tracker is None:
            cls = self.spec.load()
            self.tracker = cls(dict(self.user_cfg), fps)
        else:
            self.tracker.reset()
        self.key, self.count = key, 0
        self.trails, self.summary = {}, {}
        return True


def _sequence_key(r, source) -> tuple[str, bool]:
    """Videos and streams are sequences of their own; still images of one call form one sequence
    (a folder of frames is a video)."""
    path = str(r.path)
    if Path(path).suffix.lower() in VID_SUFFIXES or is_stream(path):
        return path, True
    return "frames:" + (str(source) if isinstance(source, (str, Path)) else ""), False


def _fps(path: str) -> float:
    import cv2

    cap = cv2.VideoCapture(path)
    try:
        return float(cap.get(cv2.CAP_PROP_FPS) or 0) or 30.0
    finally:
        cap.release()


class SegmentTrack:
    """``SegmentTrack(cfg, session)(source, stream=False)`` → Results with ``boxes.id`` set."""

    def __init__(self, cfg: dict, session):
        self.cfg = dict(cfg)
        self.session = session
        spec, user = resolve_tracker(cfg.get("tracker"), session)
        state = cfg.get("track_state")
        self.store = state if isinstance(state, dict) else {}
        ts = self.store.get("segment")
        if ts is None or ts.spec.name != spec.name or ts.user_cfg != user:
            ts = self.store["segment"] = TrackState(spec, user)
        self.state: TrackState = ts
        self.save_dir: Path | None = None
        self._writers: dict = {}
        self._finished: list[tuple[str, dict]] = []

    def __call__(self, source=None, stream: bool = False):
        gen = self.stream(source if source is not None else self.cfg.get("source"))
        return gen if stream else list(gen)

    def _predictor(self):
        from .task import SegmentTask

        pcfg = dict(self.cfg)
        for k in ("save", "show", "save_txt", "save_crop", "save_frames", "save_json"):
            pcfg[k] = False  # the predictor detects; outputs are drawn here, with ids
        if pcfg.get("conf") is None:
            pcfg["conf"] = 0.1  # ByteTrack-style trackers use the weak detections too
        # kept in the state with the trackers: frame-by-frame tracking (persist=True) builds it once
        self.store["predictor"] = SegmentTask().predictor(pcfg, self.session, self.store.get("predictor"))
        return self.store["predictor"]

    def stream(self, source):
        predictor = self._predictor()
        st = self.state
        try:
            for r in predictor(source, stream=True):
                key, is_video = _sequence_key(r, source)
                self._names = r.names
                if key != st.key and st.key is not None and st.summary:
                    self._finished.append((st.key, st.summary))
                st.begin(key, _fps(key) if is_video and not is_stream(key) else 30.0)
                st.count += 1
                frame = getattr(r, "frame", None) or st.count
                if not is_video and Path(r.path).stem.isdigit():
                    frame = int(Path(r.path).stem)  # numbered frames (MOT img1/000001.jpg) keep their number
                t0 = time.perf_counter()
                out = self._update(r, st)
                out.speed = dict(r.speed, track=(time.perf_counter() - t0) * 1e3)
                out.frame = frame
                self._record(out, st, frame)
                self._outputs(out, key, is_video, frame)
                yield out
        finally:
            for vw in self._writers.values():
                vw.release()
            self._writers.clear()
            if st.summary:
                self._finished.append((st.key, st.summary))
            self._report()

    # ------------------------------------------------------------------ tracking
    def _update(self, r, st: TrackState):
        from .results import Results

        tr = st.tracker
        n = len(r)
        if n:
            b = r.boxes.data.detach().float().cpu().numpy() if isinstance(r.boxes.data, torch.Tensor) \
                else np.asarray(r.boxes.data, np.float32)
            boxes, scores, classes = b[:, :4], b[:, -2], b[:, -1]
        else:
            boxes, scores, classes = np.zeros((0, 4)), np.zeros(0), np.zeros(0)
        masks = r.masks.at_orig() if getattr(tr, "uses_masks", False) and r.masks is not None and n else None
        rows = np.asarray(tr.update(boxes, scores, classes, masks=masks, image=r.orig_img), dtype=np.float64)
        rows = rows.reshape(-1, 8)
        idx = rows[:, 7].astype(np.int64)
        dev = r.boxes.data.device if r.boxes is not None and isinstance(r.boxes.data, torch.Tensor) else "cpu"
        data = torch.as_tensor(rows[:, :7], dtype=torch.float32, device=dev)  # x1 y1 x2 y2 id conf cls
        m = None
        if r.masks is not None:
            md = r.masks.data
            m = md[torch.as_tensor(idx, device=md.device)] if isinstance(md, torch.Tensor) else md[idx]
        return Results(r.orig_img, r.path, r.names, boxes=data, masks=m, speed=r.speed)

    def _record(self, r, st: TrackState, frame: int) -> None:
        if not len(r):
            return
        d = r.boxes.data.cpu().numpy()
        for x1, y1, x2, y2, tid, conf, cls in d:
            tid = int(tid)
            s = st.summary.setdefault(tid, {"id": tid, "classes": {}, "first": frame, "last": frame, "frames": 0})
            s["classes"][int(cls)] = s["classes"].get(int(cls), 0) + 1
            s["last"], s["frames"] = frame, s["frames"] + 1
            st.trails.setdefault(tid, deque(maxlen=TRAIL)).append(((x1 + x2) / 2, (y1 + y2) / 2))
        live = set(d[:, 4].astype(int).tolist())
        for tid in [t for t in st.trails if t not in live and st.summary[t]["last"] < frame - TRAIL]:
            del st.trails[tid]

    # ------------------------------------------------------------------ outputs
    def _out_dir(self) -> Path:
        if self.save_dir is None:
            from .engine_setup import run_dir_for

            self.save_dir = run_dir_for(self.cfg, "track")
        return self.save_dir

    def _outputs(self, r, key: str, is_video: bool, frame: int) -> None:
        cfg = self.cfg
        save, save_txt, show = bool(cfg.get("save")), bool(cfg.get("save_txt")), bool(cfg.get("show"))
        if not (save or save_txt or show):
            return
        import cv2

        im = draw_tracks(r, self.state.trails, line_width=cfg.get("line_width"),
                         labels=bool(cfg.get("show_labels", True)), conf=bool(cfg.get("show_conf", True)),
                         boxes=bool(cfg.get("show_boxes", True))) if (save or show) else None
        stem = Path(key).stem if is_video and not str(key).isdigit() else (
            f"stream{key}" if is_video else (Path(key[7:]).stem or "frames"))
        if save or save_txt:
            d = self._out_dir()
        if save:
            if is_video:
                vw = self._writers.get(stem)
                if vw is None:
                    h, w = im.shape[:2]
                    fps = _fps(key) if not is_stream(key) else 30.0
                    vw = cv2.VideoWriter(str(d / f"{stem}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                    self._writers[stem] = vw
                vw.write(im)
            else:
                (d / stem).mkdir(exist_ok=True)
                cv2.imwrite(str(d / stem / Path(r.path).name), im)
        if save_txt:
            (d / "labels").mkdir(exist_ok=True)
            with open(d / "labels" / f"{stem}.txt", "a") as f:
                for x1, y1, x2, y2, tid, conf, cls in r.boxes.data.cpu().numpy():
                    # MOTChallenge: frame, id, left, top, width, height, conf, class, visibility, -
                    f.write(f"{frame},{int(tid)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{conf:.4f},{int(cls)},-1,-1\n")
        if show:
            from segctl.errors import UsageError

            from .display import show_image

            try:
                show_image(im, key, wait_ms=1)
            except UsageError as e:
                import warnings

                warnings.warn(f"show=True ignored: {e.message} ({e.hint})", RuntimeWarning, stacklevel=2)
                self.cfg["show"] = False

    def _report(self) -> None:
        """Per-video track summary: a table on the console and ``tracks.json`` when saving."""
        if not self._finished:
            return
        names = None
        rows = []
        for key, summary in self._finished:
            for s in sorted(summary.values(), key=lambda s: s["id"]):
                cls = max(s["classes"], key=s["classes"].get)
                rows.append({"sequence": key, "id": s["id"], "class": cls, "first_frame": s["first"],
                             "last_frame": s["last"], "frames_seen": s["frames"]})
        self._finished = []
        if self.cfg.get("verbose", True):
            from rich.table import Table

            names = getattr(self, "_names", None)
            t = Table(title="tracks", show_edge=False)
            for c in ("sequence", "id", "class", "first", "last", "frames seen"):
                t.add_column(c, justify="left" if c in ("sequence", "class") else "right")
            for r in rows:
                t.add_row(Path(r["sequence"]).name or r["sequence"], str(r["id"]), str(names[r["class"]] if names else r["class"]),
                          str(r["first_frame"]), str(r["last_frame"]), str(r["frames_seen"]))
            progress.console().print(t)
        if self.save_dir is not None:
            from segctl.io import atomic_write_text

            atomic_write_text(self.save_dir / "tracks.json", json.dumps(rows, indent=1))
            if self.cfg.get("verbose", True):
                progress.console().print(f"tracks saved to {self.save_dir}")


def draw_tracks(r, trails: dict, line_width=None, labels: bool = True, conf: bool = True,
                boxes: bool = True) -> np.ndarray:
    """The original image with each track in its own colour (mask, box, ``id:7 circle 0.91``) and
    the trail of its last centres."""
    import cv2

    from .annotate import color, default_line_width, draw_box_label, draw_masks

    out = np.ascontiguousarray(r.orig_img).copy()
    if not len(r):
        return out
    lw = line_width or default_line_width(out.shape)
    d = r.boxes.data.cpu().numpy()
    ids = d[:, 4].astype(int)
    cols = [color(i) for i in ids]
    if r.masks is not None:
        draw_masks(out, r.masks.at_orig(), cols, alpha=0.5)
    for k, (x1, y1, x2, y2, tid, cf, cls) in enumerate(d):
        pts = trails.get(int(tid))
        if pts and len(pts) > 1:
            cv2.polylines(out, [np.round(np.array(pts)).astype(np.int32).reshape(-1, 1, 2)], False, cols[k],
                          max(lw - 1, 1), cv2.LINE_AA)
        if boxes:
            text = ""
            if labels:
                text = f"id:{int(tid)} {r.names.get(int(cls), int(cls))}" + (f" {cf:.2f}" if conf else "")
            draw_box_label(out, (x1, y1, x2, y2), text, cols[k], lw)
    return out
