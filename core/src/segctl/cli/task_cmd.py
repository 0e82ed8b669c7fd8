"""``segctl <task> <mode> [KEY=VALUE ...]``: generated from the registered tasks."""
from __future__ import annotations

from ..config import load_cfg_file, parse_cli_args
from ..errors import UsageError
from ..session import Session
from .render import console

DEFAULT_MODEL = {"segment": "yolov8n-seg.yaml", "detect": "yolov8n.yaml"}


def run_task(session: Session, task: str, mode: str, tokens: list[str]):
    """Parse and validate the arguments, then hand over to the task through the Model facade."""
    spec = session.registry.get("tasks", task)
    modes = tuple(spec.modes) + ("info",)
    if mode not in modes:
        import difflib

        guess = difflib.get_close_matches(mode, modes, n=1)
        raise UsageError(f"unknown mode '{mode}' for task '{task}'" + (f", did you mean '{guess[0]}'?" if guess else ""),
                         hint="modes: " + ", ".join(modes))
    schema = session.schema(task)
    raw = parse_cli_args(tokens, schema.bool_keys())
    cfg_file = raw.pop("cfg", None)
    layer = load_cfg_file(cfg_file) if cfg_file else {}  # defaults < cfg file < command line
    args = schema.validate({**layer, **raw})
    model = args.pop("model", None)
    if not model:
        if mode in ("train", "info"):
            model = DEFAULT_MODEL.get(task, "yolov8n-seg.yaml")
        else:
            raise UsageError(f"{task} {mode} needs model=", hint=f"e.g. segctl {task} {mode} model=runs/{task}/train/weights/best.pt")
    from ..model import Model

    m = Model(model, task=task, session=session)
    if mode == "info":
        return m.info(detailed=bool(args.get("verbose", False)), imgsz=int(args.get("imgsz", 640)))
    if mode == "predict" and args.get("runner") not in (None, "local"):
        summary = m.predict(**args)  # another runner writes its output itself and returns a summary
        console().print(str(summary), markup=False, highlight=False)
        return summary
    if mode in ("predict", "track"):
        args.setdefault("save", True)  # the CLI saves annotated results; the Python API only if asked
        # streamed: a long video or a large folder keeps one frame's results in memory, not all
        n = sum(1 for _ in getattr(m, mode)(stream=True, **args))
        console().print(f"[green]{n} result(s)[/]")
        return n
    return getattr(m, mode)(**args)
