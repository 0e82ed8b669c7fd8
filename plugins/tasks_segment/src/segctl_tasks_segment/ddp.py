"""Devices and multi-process (DDP) training.

Why launch through ``torchrun``: the same code path then serves ``device=0,1`` (segctl launches),
``device=cpu nproc=2`` / ``SEGCTL_NPROC=2`` (CPU processes with gloo) and a user's own
``torchrun --nnodes ... -m segctl segment train ...`` (multi-node): a worker only reads the
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` environment torchrun sets. When segctl launches it sets
``TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1`` (the shared rendezvous store made gloo runs fail or hang;
see RELIABILITY.md).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import torch

from segctl.errors import ConfigError, UsageError


def dist_env() -> tuple[int, int, int]:
    """``(rank, local_rank, world_size)`` from torchrun's environment; ``(-1, -1, 1)`` when alone."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1 or "RANK" not in os.environ:
        return -1, -1, 1
    return int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", os.environ["RANK"])), world


def parse_device(device) -> tuple[str, list[int]]:
    """``device=`` → ``(kind, cuda_indices)``: ``cpu``, ``cuda`` (indices), ``mps``.

    ``None``/``""`` picks the first GPU when there is one, else the CPU."""
    if device is None or str(device).strip() == "":
        return ("cuda", [0]) if torch.cuda.is_available() else ("cpu", [])
    text = str(device).strip().lower().replace("cuda:", "").replace(" ", "")
    if text == "cpu":
        return "cpu", []
    if text == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise UsageError("device=mps but MPS is not available on this machine", hint="use device=cpu")
        return "mps", []
    try:
        ids = [int(x) for x in text.split(",") if x != ""]
    except ValueError:
        raise ConfigError(f"device={device!r} is not valid", hint="use cpu, mps, 0, cuda:0 or 0,1") from None
    if not torch.cuda.is_available():
        raise UsageError(f"device={device!r} asks for a GPU but CUDA is not available",
                         hint="use device=cpu (add nproc=2 for 2 CPU processes)")
    n = torch.cuda.device_count()
    bad = [i for i in ids if i >= n]
    if bad:
        raise UsageError(f"device={device!r}: GPU {bad[0]} does not exist ({n} visible)",
                         hint=f"valid indices: {', '.join(map(str, range(n)))}")
    return "cuda", ids


def world_size_for(cfg: dict) -> int:
    """How many processes the config asks for (GPU list length, or ``nproc``/``SEGCTL_NPROC`` on CPU)."""
    kind, ids = parse_device(cfg.get("device"))
    if kind == "cuda":
        return max(len(ids), 1)
    if kind == "cpu":
        n = cfg.get("nproc") or os.environ.get("SEGCTL_NPROC") or 1
        try:
            return max(int(n), 1)
        except ValueError:
            raise ConfigError(f"SEGCTL_NPROC={n!r} is not an integer", hint="e.g. SEGCTL_NPROC=2") from None
    return 1


def select_device(cfg: dict, local_rank: int = -1) -> torch.device:
    """The torch device of this process (``cuda:<local_rank>`` under DDP on GPUs)."""
    kind, ids = parse_device(cfg.get("device"))
    if kind == "cuda":
        idx = ids[local_rank] if 0 <= local_rank < len(ids) else (local_rank if local_rank >= 0 else ids[0])
        torch.cuda.set_device(idx)
        return torch.device("cuda", idx)
    return torch.device(kind)


def init_process_group(device: torch.device, timeout_s: int = 600) -> None:
    """Join the process group torchrun prepared (NCCL on GPUs, gloo on CPU)."""
    import torch.distributed as dist

    if dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"
    dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))


def destroy_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(cfg: dict, world: int, timeout: float | None = None) -> list[str]:
    """Run ``segctl segment train`` in ``world`` processes under torchrun; returns the command.

    The configuration travels as ``KEY=VALUE`` arguments (only plain values: an in-memory model
    object cannot cross processes, so ``model`` must be a path). Raises when a worker fails."""
    plain = {k: v for k, v in cfg.items() if isinstance(v, (str, int, float, bool, list, type(None)))
             and k not in ("mode", "task", "model_object", "nproc")}
    from .schema import OPTIONS

    defaults = {o.name: o.default for o in OPTIONS}
    # only what differs from the defaults, as KEY=VALUE tokens the CLI parses as YAML scalars/flow lists
    tokens = [f"{k}={_yaml_value(v)}" for k, v in plain.items() if k not in defaults or v != defaults[k]]
    env = dict(os.environ, TORCH_DISABLE_SHARE_RDZV_TCP_STORE="1", SEGCTL_NPROC="1")
    env.setdefault("OMP_NUM_THREADS", str(max((os.cpu_count() or 1) // world, 1)))
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={world}", "--nnodes=1",
           f"--master-port={_free_port()}", "--master-addr=127.0.0.1",
           "-m", "segctl", "segment", "train", *tokens]
    r = subprocess.run(cmd, env=env, timeout=timeout)
    if r.returncode != 0:
        from segctl.errors import SegctlError

        raise SegctlError(f"distributed training failed (torchrun exit code {r.returncode})",
                          hint="see the worker output above; try device=cpu or a single GPU to isolate it")
    return cmd


def _yaml_value(v) -> str:
    """One value as YAML flow text (``null``, ``[0, 1]``, quoted strings when needed)."""
    import yaml

    text = yaml.safe_dump(v, default_flow_style=True, width=10_000).strip()
    return text[:-4].strip() if text.endswith("\n...") or text.endswith("...") else text


def all_true(flag: bool, world: int) -> bool:
    """``flag`` AND-ed over all ranks (so every rank skips the same steps)."""
    if world <= 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def broadcast_flag(flag: bool, world: int) -> bool:
    """Rank 0's ``flag`` on every rank (early stop / time limit decisions)."""
    if world <= 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.broadcast(t, 0)
    return bool(t.item())
