"""Prediction sources: everything ``predict(source=...)`` accepts, turned into BGR frames.

Why a single iterator: the predictor should not care where pixels come from. Every source becomes
a stream of :class:`Frame` (path, BGR uint8 image, frame number, description), read lazily so a
folder of 100 000 images or an endless webcam stream uses bounded memory.

Accepted: an image path, a folder, a glob, an ``http(s)`` URL (downloaded to a temp folder), a video
file (every ``vid_stride``-th frame), a webcam index (``0``) or stream URL (``rtsp://``, ``rtmp://``,
``tcp://``, ``http`` live streams ending in ``.m3u8``/``.mjpg``), a numpy array (HxWx3 BGR, as OpenCV
gives), a PIL image (RGB, converted), a torch tensor (``[3,H,W]`` or ``[B,3,H,W]`` RGB float 0..1,
as models take) and a list of any of these. Unreadable images are skipped with a warning naming the file.
"""
from __future__ import annotations

import atexit
import glob as globlib
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from segctl.errors import DataError, UsageError

IMG_SUFFIXES = {".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm", ".heic"}
VID_SUFFIXES = {".asf", ".avi", ".gif", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".ts", ".wmv", ".webm"}
STREAM_PREFIXES = ("rtsp://", "rtmp://", "tcp://", "udp://")
STREAM_SUFFIXES = (".m3u8", ".mjpg", ".mjpeg")


@dataclass
class Frame:
    """One image to predict on. ``frame`` is the video frame number (``None`` for still images);
    ``info`` is a short text for the summary line (``image 2/10 /path/a.jpg``)."""

    path: str
    image: np.ndarray  # HxWx3 BGR uint8
    frame: int | None = None
    info: str = ""
    is_video: bool = False
    fps: float = 30.0


def is_url(s) -> bool:
    return isinstance(s, str) and s.lower().startswith(("http://", "https://"))


def is_stream(s) -> bool:
    if isinstance(s, int) or (isinstance(s, str) and s.isdigit()):
        return True
    return isinstance(s, str) and (s.lower().startswith(STREAM_PREFIXES)
                                   or (is_url(s) and urllib.parse.urlparse(s).path.lower().endswith(STREAM_SUFFIXES)))


def download(url: str, folder: str | None = None, timeout: float = 30.0) -> Path:
    """Fetch ``url`` into a temp folder (nothing executed; the name comes from the URL path).

    The rules of :mod:`segctl.nn.download` apply (https only unless ``SEGCTL_ALLOW_HTTP=1``, bounded
    redirects and size, no HTML pages); a temp folder made here is removed when the process exits."""
    from segctl.errors import SegctlError
    from segctl.nn.download import copy_bounded, open_url

    if folder is None:
        folder = tempfile.mkdtemp(prefix="segctl_src_")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    folder = Path(folder)
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name or "download"
    dst = folder / name
    try:
        with open_url(url, timeout=timeout) as r, open(dst, "wb") as f:
            copy_bounded(r, f, url)
    except (OSError, SegctlError) as e:
        dst.unlink(missing_ok=True)
        if isinstance(e, SegctlError):
            raise
        raise DataError(f"cannot download source {url}: {e}", hint="check the URL and your network") from e
    return dst


def max_image_pixels() -> int:
    """Largest declared image (w x h) ever decoded: 100 Mpx unless ``SEGCTL_MAX_IMAGE_PIXELS`` says
    otherwise (the dataset formats use the same variable)."""
    try:
        return int(os.environ.get("SEGCTL_MAX_IMAGE_PIXELS", "") or 100_000_000)
    except ValueError:
        return 100_000_000


def oversized(data) -> str:
    """Why ``data`` (encoded image bytes) must not be decoded: its header declares more pixels than
    :func:`max_image_pixels` (a 120 KB PNG can decode to 360 MB), else ''. Only the header is read."""
    import io

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(memoryview(data))) as img:
                w, h = img.size
    except Image.DecompressionBombError as e:
        return f"image too large ({e})"
    except Exception:  # noqa: BLE001 - not identifiable by PIL: OpenCV decides below
        return ""
    limit = max_image_pixels()
    if w * h > limit:
        return f"image too large: {w}x{h} = {w * h:,} pixels declared (limit {limit:,}; set SEGCTL_MAX_IMAGE_PIXELS)"
    return ""


def read_image(path: str) -> np.ndarray | None:
    """BGR uint8 image with EXIF orientation applied, or ``None`` (with a warning) if unreadable
    or declaring more pixels than :func:`max_image_pixels` (then it is never decoded)."""
    im = None
    try:
        data = np.fromfile(path, dtype=np.uint8)
        big = oversized(data) if data.size else ""
        if big:
            warnings.warn(f"skipping {path}: {big}", stacklevel=2)
            return None
        if data.size:
            im = cv2.imdecode(data, cv2.IMREAD_COLOR)  # applies EXIF orientation like imread
    except (OSError, cv2.error):
        im = None
    if im is None or im.ndim != 3 or min(im.shape[:2]) < 1:
        warnings.warn(f"skipping unreadable image {path}", stacklevel=2)
        return None
    return im


def expand(source) -> list:
    """Flatten a source into a list of leaves: paths (str), stream ids, arrays, PIL images, tensors."""
    if isinstance(source, (list, tuple)):
        out = []
        for s in source:
            out.extend(expand(s))
        return out
    if isinstance(source, Path):
        source = str(source)
    if isinstance(source, str):
        if is_stream(source):
            return [int(source) if source.isdigit() else source]
        if is_url(source):
            return [str(download(source))]
        p = Path(source).expanduser()
        if any(ch in source for ch in "*?["):
            files = sorted(globlib.glob(str(p), recursive=True))
            if not files:
                raise UsageError(f"source={source!r}: the glob matches no files", hint="check the pattern")
            return [f for f in files if Path(f).suffix.lower() in IMG_SUFFIXES | VID_SUFFIXES]
        if p.is_dir():
            files = sorted(str(f) for f in p.iterdir() if f.suffix.lower() in IMG_SUFFIXES | VID_SUFFIXES)
            if not files:
                raise UsageError(f"source={source!r}: no images or videos in this folder",
                                 hint="supported: " + " ".join(sorted(IMG_SUFFIXES | VID_SUFFIXES)))
            return files
        if not p.exists():
            raise UsageError(f"source={source!r} does not exist", hint="give an image, folder, glob, URL or video")
        return [str(p)]
    return [source]


def _from_array(obj, i: int) -> list[np.ndarray]:
    """numpy/PIL/torch leaf → list of BGR uint8 images."""
    mod = type(obj).__module__
    if mod.startswith("PIL"):
        return [cv2.cvtColor(np.asarray(obj.convert("RGB")), cv2.COLOR_RGB2BGR)]
    if mod.startswith("torch"):
        t = obj.detach().float().cpu()
        if t.ndim == 3:
            t = t[None]
        if t.ndim != 4 or t.shape[1] != 3:
            raise UsageError(f"tensor source has shape {tuple(obj.shape)}", hint="expected [3,H,W] or [B,3,H,W] RGB 0..1")
        if t.max() > 1.0 + 1e-3:
            raise UsageError("tensor source has values above 1", hint="tensor sources are RGB float in 0..1 (divide by 255)")
        arr = (t.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
        return [np.ascontiguousarray(a[..., ::-1]) for a in arr]
    if isinstance(obj, np.ndarray):
        a = obj
        if a.ndim == 2:
            a = cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
        if a.ndim != 3 or a.shape[2] not in (3, 4):
            raise UsageError(f"numpy source has shape {a.shape}", hint="expected HxWx3 BGR uint8 (as cv2.imread gives)")
        if a.shape[2] == 4:
            a = a[..., :3]
        if a.dtype != np.uint8:
            a = np.clip(a, 0, 255).astype(np.uint8)
        return [np.ascontiguousarray(a)]
    raise UsageError(f"unsupported source type {type(obj).__name__}",
                     hint="use a path, folder, glob, URL, video, webcam index, numpy array, PIL image or tensor")


def _video_frames(src, vid_stride: int, label: str) -> Iterator[Frame]:
    cap = cv2.VideoCapture(src)
    if not cap.isOpened():
        raise DataError(f"cannot open video/stream {src}", hint="check the path or stream URL (OpenCV must read it)")
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0) or 30.0
    stride = max(int(vid_stride or 1), 1)
    n = bad = 0
    try:
        while True:
            ok = cap.grab()
            if not ok:
                # a damaged frame inside a file: report it, skip it and read on (its number is kept, so
                # later frames keep theirs); the end of a file or a stream, or 30 in a row: stop
                if not total or n >= total or bad >= 30:
                    break
                n, bad = n + 1, bad + 1
                warnings.warn(f"video {src}: frame {n} is unreadable, skipped", stacklevel=2)
                continue
            n, bad = n + 1, 0
            if (n - 1) % stride:
                continue
            ok, im = cap.retrieve()
            if not ok or im is None:
                break
            info = f"video {label} (frame {n}/{total or '?'})"
            yield Frame(str(src), im, n, info, True, fps / stride)
    finally:
        cap.release()


def iter_frames(source, vid_stride: int = 1) -> Iterator[Frame]:
    """Yield :class:`Frame` for every image/frame of ``source`` (see module docs), lazily."""
    leaves = expand(source)
    n = len(leaves)
    for i, leaf in enumerate(leaves):
        label = f"{i + 1}/{n}"
        if isinstance(leaf, int) or (isinstance(leaf, str) and is_stream(leaf)):
            yield from _video_frames(leaf, vid_stride, f"{label} {leaf}")
        elif isinstance(leaf, str):
            if Path(leaf).suffix.lower() in VID_SUFFIXES:
                yield from _video_frames(leaf, vid_stride, f"{label} {leaf}")
                continue
            im = read_image(leaf)
            if im is not None:
                yield Frame(leaf, im, None, f"image {label} {leaf}")
        else:
            kind = type(leaf).__name__
            for j, im in enumerate(_from_array(leaf, i)):
                name = f"image{i}.jpg" if j == 0 else f"image{i}_{j}.jpg"
                yield Frame(name, im, None, f"{kind} {label}")


def prefetch_worthwhile(source) -> bool:
    """True when reading the source costs time worth overlapping with inference: files, folders,
    globs, URLs, videos and streams (decoding), not images already in memory."""
    if isinstance(source, (list, tuple)):
        return any(prefetch_worthwhile(s) for s in source)
    return isinstance(source, (str, Path, int))


_END = object()


def prefetch(frames: Iterator[Frame], depth: int = 2) -> Iterator[Frame]:
    """Read ``frames`` in a background thread, at most ``depth`` ahead, so decoding the next frame
    overlaps inference on this one (OpenCV releases the GIL while decoding).

    An exception in the reader is re-raised here, in order; closing this generator early (a
    ``break`` in the caller's loop) stops the reader and releases the video or stream it holds."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=max(int(depth), 1))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader():
        try:
            for f in frames:
                if not put(f):
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which re-raises it
            put(e)
            return
        finally:
            close = getattr(frames, "close", None)
            if close is not None and stop.is_set():
                close()
        put(_END)

    t = threading.Thread(target=reader, name="segctl-frame-reader", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join(timeout=5)


def batched(frames: Iterator[Frame], batch: int) -> Iterator[list[Frame]]:
    """Group frames into lists of at most ``batch`` (the last may be shorter)."""
    buf: list[Frame] = []
    for f in frames:
        buf.append(f)
        if len(buf) >= max(int(batch or 1), 1):
            yield buf
            buf = []
    if buf:
        yield buf


def default_source() -> str:
    """Folder of sample images used when no source is given (inside this package if bundled)."""
    here = Path(__file__).parent / "assets"
    if here.is_dir():
        return str(here)
    raise UsageError("no source given", hint="pass source=path/to/images (a file, folder, glob, URL or video)")



# ---------------------------------------------------------------------- inputs for runners
#: largest image file a runner's CPU task reads (bytes): bounds memory before decoding
MAX_INPUT_BYTES = 256 << 20


def list_inputs(source) -> list[str]:
    """The inputs of a batch job (``runner=ray``), as absolute paths or URLs in a stable order.

    ``source``: an image path or URL, a folder (its images, sorted), a glob (``**`` recurses) or a
    text file listing one path or URL per line (blank lines and ``#`` comments skipped; relative
    paths are relative to the list file). Nothing is read or downloaded here: each item is read
    by the worker that needs it. Videos and streams are refused (they are not independent items)."""
    if not isinstance(source, (str, Path)):
        raise UsageError(f"runners take a folder, glob, list file, image path or URL, not {type(source).__name__}",
                         hint="save in-memory images to files first, or use runner=local")
    text = str(source)
    if is_stream(text):
        raise UsageError(f"source={text!r} is a stream: a runner needs a finite list of images", hint="use runner=local")
    if is_url(text):
        return [text]
    p = Path(text).expanduser()
    if any(ch in text for ch in "*?["):
        items = sorted(str(Path(f).resolve()) for f in globlib.glob(str(p), recursive=True)
                       if Path(f).suffix.lower() in IMG_SUFFIXES | VID_SUFFIXES)
    elif p.is_dir():
        items = sorted(str(f.resolve()) for f in p.iterdir() if f.suffix.lower() in IMG_SUFFIXES | VID_SUFFIXES)
    elif p.is_file() and p.suffix.lower() in (".txt", ".lst", ".list"):
        items = []
        for line in p.read_text(encoding="utf-8-sig").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            items.append(line if is_url(line) else str((p.parent / Path(line).expanduser()).resolve()))
    elif p.exists():
        items = [str(p.resolve())]
    else:
        raise UsageError(f"source={text!r} does not exist", hint="give a folder, glob, list file (.txt), image or URL")
    videos = [i for i in items if not is_url(i) and Path(i).suffix.lower() in VID_SUFFIXES]
    if videos:
        raise UsageError(f"runners predict on images; {videos[0]} is a video ({len(videos)} in the source)",
                         hint="extract frames first, or use runner=local for videos")
    if not items:
        raise UsageError(f"source={text!r} holds no images", hint="supported: " + " ".join(sorted(IMG_SUFFIXES)))
    return items


def read_input(item: str, timeout: float = 30.0, max_bytes: int = MAX_INPUT_BYTES) -> tuple[np.ndarray | None, str]:
    """``(BGR image, "")`` or ``(None, reason)`` for a path or URL: a runner turns the reason into
    the image's ``error`` row instead of failing the job. Reads at most ``max_bytes``."""
    try:
        if is_url(item):
            with urllib.request.urlopen(item, timeout=timeout) as r:
                data = r.read(max_bytes + 1)
        else:
            size = Path(item).stat().st_size
            if size > max_bytes:
                return None, f"file too large ({size} bytes > {max_bytes})"
            data = Path(item).read_bytes()
    except (OSError, ValueError) as e:
        return None, f"cannot read: {e}"
    if len(data) > max_bytes:
        return None, f"download larger than {max_bytes} bytes"
    if not data:
        return None, "empty file"
    big = oversized(data)
    if big:
        return None, big
    try:
        im = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as e:
        return None, f"cannot decode: {e}"
    if im is None or im.ndim != 3 or min(im.shape[:2]) < 1:
        return None, "not a decodable image"
    return im, ""
