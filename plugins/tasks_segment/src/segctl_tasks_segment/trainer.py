"""The segment trainer: one epoch loop with warm-up, accumulation, EMA, AMP, NaN guard and resume.

Why it looks like this: every piece that can be reasoned about alone lives elsewhere
(:mod:`.optim` for the optimiser/schedule/EMA, :mod:`.checkpointing` for state and resume rules,
:mod:`.ddp` for devices and processes, :mod:`.progress` for the console). This module wires them
into the loop and owns the policies documented in docs/training.md:

* a non-finite loss (or gradient) skips the step and is reported; three in a row restore the
  model from the last good EMA weights; a checkpoint is never written with non-finite tensors;
* only rank 0 writes files; every rank runs the same number of steps (skip decisions are agreed
  through an all-reduce so DDP never deadlocks);
* ``weights/last.pt`` every epoch, ``best.pt`` on the best fitness, both atomic.
"""
from __future__ import annotations

import math
import os
import random
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from segctl.errors import CheckpointError, ConfigError

from . import checkpointing as ckpt_mod
from . import ddp, elastic, progress
from .engine_setup import (build_train_model, load_split, make_loader, run_dir_for, seed_everything,
                           try_plot_batch, try_plot_labels)
from .optim import (ModelEMA, accumulation_steps, build_optimizer, lr_lambda, resolve_batch, unwrap,
                    warmup_iterations, warmup_step)

MAX_BAD_STEPS = 3


class SegmentTrainer:
    """Train a segmentation model. ``SegmentTrainer(cfg, session).train()`` returns ``self`` with
    ``best``/``last`` (paths), ``metrics`` (final validation), ``save_dir`` and ``epoch``."""

    def __init__(self, cfg: dict, session):
        self.cfg = dict(cfg)
        self.session = session
        self.rank, self.local_rank, self.world = ddp.dist_env()
        self.is_main = self.rank in (-1, 0)
        self.resume_ckpt = None
        self.resumed_overrides: list[str] = []
        self.cfg = elastic.auto_resume(self.cfg, self._log)  # a torchrun restart continues its run
        if self.cfg.get("resume"):
            self._prepare_resume()
        self.device = ddp.select_device(self.cfg, self.local_rank)
        self.epochs = int(self.cfg.get("epochs") or 1)
        self.start_epoch = 0
        self.epoch = 0
        self.best_fitness = None
        self.fitness = None
        self.metrics = None
        self.tloss = None
        self.bad_steps = 0
        self.skipped_steps = 0
        self.save_dir = run_dir_for(self.cfg, "train", self.is_main)
        self.wdir = self.save_dir / "weights"
        self.last, self.best = self.wdir / "last.pt", self.wdir / "best.pt"
        self.csv = self.save_dir / "results.csv"

    # ------------------------------------------------------------------ resume
    def _prepare_resume(self) -> None:
        from segctl.nn.checkpoint import load_checkpoint

        r = self.cfg["resume"]
        ckpt_mod.check_resume_key(r)
        project = self.cfg.get("project") or "runs/segment"
        path = ckpt_mod.find_last(project) if r is True else Path(str(r))
        if not path.exists():
            raise CheckpointError(f"resume={r}: {path} does not exist", hint="pass the run's weights/last.pt")
        ck = load_checkpoint(str(path), session=self.session)
        model_yaml = None
        m = self.cfg.get("model")
        if m and str(m).endswith((".yaml", ".yml")):
            from segctl.nn.parser import load_cfg
            from segctl.nn.registry_helpers import resolve_model_config

            model_yaml = load_cfg(resolve_model_config(str(m), self.session)[0])
        ckpt_mod.check_resumable(ck, path, self.cfg, model_yaml, None)
        defaults = _schema_defaults()
        merged, applied = ckpt_mod.resume_overrides(self.cfg, ck.get("train_args") or {}, defaults)
        merged["resume"] = str(path)
        # continue in the same run folder
        run = path.parent.parent
        merged.update(project=str(run.parent), name=run.name, exist_ok=True)
        for k in ("model_object",):
            merged.pop(k, None)
        self.cfg = {**self.cfg, **merged}
        self.cfg.pop("model_object", None)
        self.resume_ckpt, self.resumed_overrides = ck, applied

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        cfg = self.cfg
        seed_everything(int(cfg.get("seed") or 0) + max(self.rank, 0), bool(cfg.get("deterministic")))
        if self.device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ and self.world == 1:
            torch.set_num_threads(os.cpu_count() or 1)
        if self.world > 1:
            ddp.init_process_group(self.device)
        self.data_cfg, self.fmt = self.session.resolve_data(cfg["data"])
        self.train_index = load_split(self.fmt, self.data_cfg, "train", cfg, self.is_main)
        self.val_index = load_split(self.fmt, self.data_cfg, "val", cfg, self.is_main) if self.is_main else None
        names = dict(self.train_index.names)
        if cfg.get("single_cls"):
            names = {0: "item"}
        self.names = names
        if self.resume_ckpt is not None:
            ckpt_mod.check_resumable(self.resume_ckpt, Path(str(cfg["resume"])), cfg, None, names)
        self.model = build_train_model(cfg, self.session, names, self.resume_ckpt).to(self.device)
        self._freeze(cfg.get("freeze"))
        self.amp = bool(cfg.get("amp", True)) and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        gs = max(int(max(unwrap(self.model).stride)), 32)
        self.imgsz = max(int(cfg["imgsz"] if not isinstance(cfg["imgsz"], list) else cfg["imgsz"][0]) // gs * gs, gs)
        self.stride = gs
        # batch=-1 (the default): chosen from the training-set size (optim.auto_batch); the chosen
        # number is what args.yaml and the checkpoints record
        bs = resolve_batch(cfg.get("batch"), len(self.train_index.records), self.world)
        cfg["batch"] = bs
        self.batch_size = max(bs // self.world, 1)
        self.train_loader, self.train_set = make_loader(self.train_index, cfg, self.imgsz, self.batch_size, gs,
                                                        train=True, rank=self.rank, world=self.world)
        self.validator = None
        if self.is_main:
            from .validator import SegmentValidator

            vloader, _ = make_loader(self.val_index, cfg, self.imgsz, self.batch_size * 2, gs, train=False)
            self.validator = SegmentValidator(cfg, self.session, dataloader=vloader, index=self.val_index,
                                              save_dir=self.save_dir, names=self.names)
        if self.world > 1:
            self.model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        from .loss import DualAssignmentSegmentationLoss, SegmentationLoss

        # a head with an NMS-free one-to-one branch is trained with dual assignment (docs/contracts.md)
        loss_cls = DualAssignmentSegmentationLoss if getattr(unwrap(self.model).head, "end2end_capable", False) \
            else SegmentationLoss
        self.criterion = loss_cls(unwrap(self.model), hyp=cfg, overlap=cfg.get("overlap_mask", True))
        self.nb = len(self.train_loader)
        self.accumulate = accumulation_steps(int(cfg.get("nbs") or 64), bs, self.nb)
        decay = float(cfg["weight_decay"]) * bs * self.accumulate / int(cfg.get("nbs") or 64)
        iterations = math.ceil(len(self.train_set) / max(bs, int(cfg.get("nbs") or 64))) * self.epochs
        self.optimizer, self.opt_name, self.lr0, self.momentum = build_optimizer(
            self.model, cfg.get("optimizer") or "auto", float(cfg["lr0"]), float(cfg["momentum"]), decay,
            iterations, len(names))
        # a high bias lr in warm-up suits SGD; adaptive optimisers would take huge steps with it
        self.warmup_bias_lr = float(cfg.get("warmup_bias_lr") or 0.0) if self.opt_name == "SGD" else 0.0
        self.lf = lr_lambda(self.epochs, float(cfg["lrf"]), bool(cfg.get("cos_lr")))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda=self.lf)
        self.ema = ModelEMA(self.model)  # every rank keeps one: restoring after non-finite steps needs it
        self.ema.update_attr(self.model)
        self.nw = warmup_iterations(float(cfg.get("warmup_epochs") or 0), self.nb, self.epochs)
        if self.resume_ckpt is not None:
            self._restore(self.resume_ckpt)
        self.scheduler.last_epoch = self.start_epoch - 1
        if self.is_main:
            from segctl.io import clean_stale_temps
            from segctl.runs import write_args

            self.wdir.mkdir(parents=True, exist_ok=True)
            elastic.write_marker(self.save_dir)
            clean_stale_temps(self.wdir)
            write_args(self.save_dir, self.train_args())
            self._log(f"optimizer: {self.opt_name}(lr={self.lr0:g}, momentum={self.momentum:g}) with 3 groups "
                      f"(weight_decay={decay:g} on weights, 0 on norms/biases); accumulate {self.accumulate} "
                      f"batch(es)/step, warm-up {self.nw} iterations, {self.nb} batches/epoch")
            if self.resumed_overrides:
                self._log("resume overrides: " + "; ".join(self.resumed_overrides))
            if cfg.get("plots"):
                try_plot_labels(self.train_set, self.names, self.save_dir)

    def _freeze(self, freeze) -> None:
        """Freeze ``freeze`` (int: first N layers, list: those indices); DFL weights stay fixed."""
        if freeze is None:
            idx = []
        elif isinstance(freeze, int):
            idx = list(range(freeze))
        else:
            idx = [int(i) for i in freeze]
        prefixes = [f"model.{i}." for i in idx] + [".dfl"]
        for k, v in self.model.named_parameters():
            if any(k.startswith(p) if p.startswith("model.") else p in k for p in prefixes):
                v.requires_grad_(False)
            elif v.dtype.is_floating_point and not v.requires_grad:
                v.requires_grad_(True)

    def _restore(self, ck: dict) -> None:
        """Load the complete training state of a ``last.pt`` (see docs/training.md: resume)."""
        unwrap(self.model).load_state_dict({k: v.float() for k, v in ck["model"].items()})
        self.ema.ema.load_state_dict({k: v.float() for k, v in (ck.get("ema") or ck["model"]).items()})
        self.ema.updates = int(ck.get("updates") or 0)
        if ck.get("optimizer"):
            self.optimizer.load_state_dict(ck["optimizer"])
        if ck.get("scheduler"):
            self.scheduler.load_state_dict(ck["scheduler"])
            self.scheduler.lr_lambdas = [self.lf] * len(self.optimizer.param_groups)
        if ck.get("scaler") and self.amp:
            self.scaler.load_state_dict(ck["scaler"])
        self.best_fitness = ck.get("best_fitness")
        self.start_epoch = int(ck["epoch"]) + 1
        ckpt_mod.set_rng_state(ck.get("rng"))
        if self.start_epoch >= self.epochs:
            raise CheckpointError(f"{self.cfg['resume']}: all {self.epochs} epochs already done",
                                  hint="start a new run with model=<that last.pt> to train further")
        self._log(f"resuming from {self.cfg['resume']} at epoch {self.start_epoch + 1}/{self.epochs}")

    # ------------------------------------------------------------------ loop
    def train(self):
        """Run training (launching DDP workers when the config asks for several processes)."""
        want = ddp.world_size_for(self.cfg)
        if want > 1 and self.world == 1:
            return self._launch_ddp(want)
        try:
            self._setup()
            self._fit()
        finally:
            if self.world > 1:
                ddp.destroy_process_group()
        return self

    def _launch_ddp(self, world: int):
        cfg = dict(self.cfg, project=str(self.save_dir.parent), name=self.save_dir.name, exist_ok=True)
        if cfg.get("model_object") is not None:
            raise ConfigError("multi-process training needs model= as a file or config name",
                              hint="pass model=path.yaml/.pt instead of an in-memory model")
        self._log(f"launching {world} training processes (torchrun)")
        ddp.launch(cfg, world)
        if self.best.exists():
            self.metrics = None
        return self

    def _fit(self) -> None:
        cfg = self.cfg
        self._emit("on_train_start", trainer=self)
        t0 = time.time()
        self.train_time_start = t0
        epoch_times = []
        stop = False
        if self.is_main:
            self._log(f"image sizes {self.imgsz} train, {self.imgsz} val; using {self.train_loader.num_workers} "
                      f"dataloader workers; logging to {self.save_dir}; training for {self.epochs} epochs...")
        epoch = self.start_epoch
        while epoch < self.epochs and not stop:
            self.epoch = epoch
            te = time.time()
            if epoch == self.epochs - int(cfg.get("close_mosaic") or 0) and hasattr(self.train_set, "close_mosaic"):
                self.train_set.close_mosaic()
                self._log("closing mosaic augmentation for the last epochs")
            self._train_epoch(epoch)
            self.lr = {f"lr/pg{i}": g["lr"] for i, g in enumerate(self.optimizer.param_groups)}
            self.scheduler.step()
            self._emit("on_train_epoch_end", trainer=self)
            final = epoch + 1 == self.epochs
            if self.is_main:
                self.ema.update_attr(self.model)
                if cfg.get("val", True) or final:
                    self.metrics, vloss = self._validate()
                    self.fitness = float(self.metrics.fitness)
                else:
                    self.metrics, vloss, self.fitness = None, None, float(-self.tloss.sum())
                if self.best_fitness is None or self.fitness > self.best_fitness:
                    self.best_fitness, self.best_epoch = self.fitness, epoch
                row = self._metrics_row(vloss)
                self._save(epoch, row)
                self._emit("on_fit_epoch_end", trainer=self, metrics=row)
                stop = self._should_stop(epoch, t0)
            epoch_times.append(time.time() - te)
            if cfg.get("time"):
                budget = float(cfg["time"]) * 3600
                new_epochs = max(math.ceil(budget / (sum(epoch_times) / len(epoch_times))), epoch + 1)
                if new_epochs != self.epochs:
                    self.epochs = new_epochs
                    self.lf = lr_lambda(self.epochs, float(cfg["lrf"]), bool(cfg.get("cos_lr")))
                    self.scheduler.lr_lambdas = [self.lf] * len(self.optimizer.param_groups)
            stop = ddp.broadcast_flag(stop, self.world)
            epoch += 1
        if self.world > 1:
            self._check_ddp_sync()
        if self.is_main:
            self._final(time.time() - t0)
        self._emit("on_train_end", trainer=self)

    def _check_ddp_sync(self) -> None:
        """Compare a float64 checksum of the weights across ranks; they must be identical (gradients
        are all-reduced, so parameters agree; BatchNorm buffers are first synced from rank 0)."""
        import torch.distributed as dist

        m = unwrap(self.model)
        for b in m.buffers():  # BN statistics are per rank (no SyncBN): take rank 0's, as saved
            dist.broadcast(b.data, 0)
        sd = m.state_dict()
        c = torch.stack([v.double().sum() for v in sd.values() if v.dtype.is_floating_point]).sum().reshape(1)
        c = c.to(self.device) if dist.get_backend() == "nccl" else c.cpu()
        out = [torch.zeros_like(c) for _ in range(self.world)]
        dist.all_gather(out, c)
        vals = [float(v) for v in out]
        if len(set(vals)) != 1:
            raise RuntimeError(f"DDP ranks ended with different weights: checksums {vals}")
        self._log(f"DDP: weights identical on all {self.world} ranks (checksum {vals[0]:.6f})")

    def _train_epoch(self, epoch: int) -> None:
        cfg = self.cfg
        model = self.model
        model.train()
        # the data of an epoch depend on (seed, epoch) only -- the order through the sampler, each sample's
        # augmentation through the dataset -- so a resumed run sees exactly what the uninterrupted one saw
        sampler = getattr(self.train_loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(epoch)
        self.tloss = None
        self.optimizer.zero_grad(set_to_none=True)
        last_opt_step = -1 + epoch * self.nb
        bar = progress.epoch_progress(self.nb, disable=not self.is_main or not cfg.get("verbose", True))
        if self.is_main and cfg.get("verbose", True):
            progress.console().print(progress.train_header())
        with bar:
            task = bar.add_task("", total=self.nb)
            for i, batch in enumerate(self.train_loader):
                ni = i + self.nb * epoch
                if ni <= self.nw:
                    warmup_step(self.optimizer, ni, self.nw, epoch, self.lf, self.lr0, self.momentum,
                                self.warmup_bias_lr, float(cfg.get("warmup_momentum") or 0.8))
                    self.accumulate_now = max(1, round(np.interp(ni, [0, max(self.nw, 1)], [1, self.accumulate])))
                else:
                    self.accumulate_now = self.accumulate
                batch = self._preprocess(batch)
                with torch.autocast(device_type=self.device.type, enabled=self.amp):
                    preds = model(batch["img"])
                    loss, items = self.criterion(preds, batch)
                loss = self._loss_hook(loss, epoch, i)
                finite = ddp.all_true(bool(torch.isfinite(loss).all()), self.world)
                if not finite:
                    self._bad_step(epoch, i, "loss")
                    self.optimizer.zero_grad(set_to_none=True)
                    last_opt_step = ni
                else:
                    if self.world > 1:
                        loss = loss * self.world
                    self.scaler.scale(loss).backward()
                    self.tloss = items.detach().float().cpu() if self.tloss is None else \
                        (self.tloss * i + items.detach().float().cpu()) / (i + 1)
                    if ni - last_opt_step >= self.accumulate_now:
                        self._optimizer_step(epoch, i)
                        last_opt_step = ni
                if self.is_main:
                    n_inst = int(batch["cls"].shape[0])
                    losses = self.tloss if self.tloss is not None else torch.zeros(4)
                    bar.update(task, advance=1, description=progress.train_description(
                        epoch + 1, self.epochs, progress.device_memory(self.device), losses, n_inst,
                        int(batch["img"].shape[-1])))
                    if cfg.get("plots") and epoch == self.start_epoch and i < 3:
                        try_plot_batch(batch, self.save_dir / f"train_batch{i}.jpg", self.names)
                if cfg.get("time") and time.time() - self.train_time_start > float(cfg["time"]) * 3600:
                    break
        if self.tloss is None:
            self.tloss = torch.full((4,), float("nan"))

    def _loss_hook(self, loss, epoch, i):
        """Identity; tests monkeypatch it to inject non-finite losses at a given step."""
        return loss

    def _optimizer_step(self, epoch: int, i: int) -> None:
        self.scaler.unscale_(self.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=10.0,
                                              foreach=self.device.type in ("cpu", "cuda") or None)
        ok = ddp.all_true(bool(torch.isfinite(norm)), self.world)
        if not ok and not self.amp:
            self._bad_step(epoch, i, "gradient")
            self.optimizer.zero_grad(set_to_none=True)
            return
        self.scaler.step(self.optimizer)  # skips the update itself on inf/NaN grads when AMP is on
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.update(self.model)
        self.bad_steps = 0

    def _bad_step(self, epoch: int, i: int, what: str) -> None:
        """Skip a non-finite step; after MAX_BAD_STEPS in a row restore the last good EMA weights."""
        self.bad_steps += 1
        self.skipped_steps += 1
        if self.is_main:
            warnings.warn(f"non-finite {what} at epoch {epoch + 1}, batch {i}: step skipped "
                          f"({self.bad_steps} in a row, {self.skipped_steps} in total)", RuntimeWarning, stacklevel=2)
        if self.bad_steps >= MAX_BAD_STEPS:
            if self.ema.is_finite():
                unwrap(self.model).load_state_dict(self.ema.ema.state_dict())
                self.optimizer.state.clear()
                if self.is_main:
                    warnings.warn(f"{MAX_BAD_STEPS} non-finite steps in a row: model restored from the EMA weights "
                                  "and optimizer state reset", RuntimeWarning, stacklevel=2)
            self.bad_steps = 0

    def _preprocess(self, batch: dict) -> dict:
        """Move to device, uint8 → float 0..1, and (``multi_scale``) resize the batch ±50 %."""
        batch = dict(batch)
        for k in ("img", "cls", "bboxes", "batch_idx", "masks"):
            if k in batch and isinstance(batch[k], torch.Tensor):
                batch[k] = batch[k].to(self.device, non_blocking=True)
        batch["img"] = batch["img"].float() / 255
        if self.cfg.get("multi_scale"):
            img = batch["img"]
            sz = random.randrange(int(self.imgsz * 0.5), int(self.imgsz * 1.5) + self.stride) // self.stride * self.stride
            sz = max(sz, self.stride)
            f = sz / max(img.shape[2:])
            if f != 1:
                ns = [math.ceil(x * f / self.stride) * self.stride for x in img.shape[2:]]
                batch["img"] = nn.functional.interpolate(img, size=ns, mode="bilinear", align_corners=False)
        return batch

    # ------------------------------------------------------------------ validation / saving
    def _validate(self):
        return self.validator.run_training(self.ema.ema, self.criterion, epoch=self.epoch)

    def _metrics_row(self, vloss) -> dict:
        names = ("box_loss", "seg_loss", "cls_loss", "dfl_loss")
        row = {"epoch": self.epoch + 1}
        row.update({f"train/{n}": round(float(v), 5) for n, v in zip(names, self.tloss)})
        if self.metrics is not None:
            row.update({k: round(float(v), 5) for k, v in self.metrics.results_dict.items() if k != "fitness"})
        if vloss is not None:
            row.update({f"val/{n}": round(float(v), 5) for n, v in zip(names, vloss)})
        row.update({k: round(float(v), 8) for k, v in self.lr.items()})
        return row

    def train_args(self) -> dict:
        return {k: v for k, v in self.cfg.items() if isinstance(v, (str, int, float, bool, list, type(None)))
                and k != "model_object"}

    def _checkpoint(self, epoch: int, row: dict) -> dict:
        from segctl.nn.checkpoint import make_checkpoint

        return make_checkpoint(
            unwrap(self.model), ema=self.ema.ema, updates=self.ema.updates, optimizer=self.optimizer.state_dict(),
            scheduler=_plain_sched(self.scheduler.state_dict()), scaler=self.scaler.state_dict() if self.amp else None,
            rng=ckpt_mod.get_rng_state(), epoch=epoch, best_fitness=self.best_fitness,
            train_args=self.train_args(), train_metrics=row, imgsz=self.imgsz)

    def _save(self, epoch: int, row: dict) -> None:
        """Write last.pt (and best.pt / epochN.pt); refused when any weight is non-finite."""
        if not self.cfg.get("save", True):
            return
        from segctl.nn.checkpoint import check_finite, save_checkpoint

        ck = self._checkpoint(epoch, row)
        try:
            check_finite(ck, self.last)  # never write NaN/Inf weights: keep the previous good file
        except CheckpointError as e:
            warnings.warn(f"epoch {epoch + 1}: checkpoint NOT written, {e.message} (previous {self.last.name} kept)",
                          RuntimeWarning, stacklevel=2)
            return
        save_checkpoint(ck, self.last)
        if self.best_fitness == self.fitness and getattr(self, "best_epoch", -1) == epoch:
            save_checkpoint(ck, self.best)
        sp = int(self.cfg.get("save_period") or -1)
        if sp > 0 and (epoch + 1) % sp == 0:
            save_checkpoint(ck, self.wdir / f"epoch{epoch + 1}.pt")

    def _should_stop(self, epoch: int, t0: float) -> bool:
        patience = int(self.cfg.get("patience") or 0)
        if patience > 0 and epoch - getattr(self, "best_epoch", epoch) >= patience:
            self._log(f"early stopping: no improvement in the last {patience} epochs "
                      f"(best epoch {self.best_epoch + 1})")
            return True
        t = self.cfg.get("time")
        return bool(t) and time.time() - t0 > float(t) * 3600

    def _final(self, seconds: float) -> None:
        """Strip the checkpoints, validate best.pt with the per-class table, draw results.png."""
        self._log(f"{self.epoch - self.start_epoch + 1} epochs completed in {seconds / 3600:.3f} hours.")
        for f in (self.last, self.best):
            if f.exists():
                ckpt_mod.strip_checkpoint(f, self.session)
        if self.best.exists() and self.validator is not None:
            self._log(f"validating {self.best}...")
            from segctl.nn.checkpoint import load_checkpoint
            from segctl.nn import model_from_checkpoint

            best_model = model_from_checkpoint(load_checkpoint(str(self.best), session=self.session),
                                               session=self.session).to(self.device).float()
            self.metrics, _ = self.validator.run_training(best_model, None, epoch=self.epoch, final=True)
        if self.cfg.get("plots") and self.csv.exists():
            try:
                from .plotting import plot_results

                plot_results(self.csv)
            except Exception as e:  # noqa: BLE001 - a plot must never fail a finished run
                warnings.warn(f"results.png not drawn: {e}", stacklevel=2)
        self._log(f"results saved to {self.save_dir}")

    # ------------------------------------------------------------------ helpers
    def _emit(self, hook: str, **kw) -> None:
        if self.is_main:
            self.session.emit(hook, **kw)

    def _log(self, msg: str) -> None:
        if self.is_main and self.cfg.get("verbose", True):
            progress.console().print(msg)


def _plain_sched(sd: dict) -> dict:
    """Scheduler state without the (unpicklable, rebuilt on resume) lr lambdas."""
    return {**sd, "lr_lambdas": [None] * len(sd.get("lr_lambdas") or [])}


def _schema_defaults() -> dict:
    from .schema import OPTIONS

    return {o.name: o.default for o in OPTIONS}
