"""Training loop for feed-forward style networks (Johnson et al. 2016, "Perceptual Losses for
Real-Time Style Transfer and Super-Resolution"), with N>1 paintings trained as one conditional
instance norm model (Dumoulin et al. 2017, "A Learned Representation for Artistic Style").
What it minimises and how it steps: ``train/objective.py``. Every file is written to a temp file
and renamed (checkpoints: ``train/checkpoint.py``).
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from fstvideo.interrupt import held
from fstvideo.model import StyleNet, build_net
from fstvideo.styles import save_style
from fstvideo.stylizer import pick_device as stylizer_device
from fstvideo.stylizer import tune_malloc

from . import distributed, losses
from .checkpoint import atomic_torch_save, load_checkpoint
from .config import PHOTO_SLOT, TrainConfig, TrainError, painting_credit  # noqa: F401 (re-exported)
from .data import PhotoCrops, load_painting
from .objective import Objective, adam
from .plots import plot_history, sample_sheet
from .vgg import VGGFeatures


def _cpu_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def pick_device(device: str, precision: str) -> tuple[torch.device, torch.dtype | None]:
    """The training device (as the Stylizer picks it) and the autocast dtype (None: plain fp32)."""
    dev = stylizer_device(device)
    if precision == "auto":  # bf16 only where the CPU has native bf16 (AVX512-BF16/AMX): else ~7x slower
        precision = "fp16" if dev.type == "cuda" else "bf16" if _cpu_bf16() else "fp32"
    amp = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, "bad")
    if amp == "bad":
        raise TrainError(f"unknown precision '{precision}'")
    return dev, amp


class Trainer:
    """State of one training run; :meth:`run` trains to ``config.iterations``."""

    def __init__(self, config: TrainConfig, resume: str | os.PathLike | None = None,
                 vgg_state: dict | None = None):
        ck = load_checkpoint(resume) if resume else None
        if ck is not None:  # the run's own config wins; the step budget may grow, outputs may move
            same = config.styles == ck["config"].styles
            config = replace(ck["config"],
                             iterations=max(config.iterations, ck["config"].iterations) if same
                             else ck["config"].iterations,
                             max_minutes=config.max_minutes if same else ck["config"].max_minutes,
                             out=config.out if same else ck["config"].out,
                             run_dir=(config.run_dir or ck["config"].run_dir) if same else ck["config"].run_dir)
        self.config = c = config.resolved()
        if not c.styles:
            raise TrainError("need at least one painting (--style)")
        if len(set(c.style_names)) != len(c.style_names) or len(c.style_names) != c.net.n_styles:
            raise TrainError(f"style names must be unique, one per painting (+ '{PHOTO_SLOT}'): "
                             f"{', '.join(c.style_names)}")
        if c.image_size % 4 or c.image_size < 16:
            raise TrainError(f"--image-size must be a multiple of 4 and >= 16 (got {c.image_size})")
        if c.threads:
            torch.set_num_threads(c.threads)
        torch.set_flush_denormal(True)  # denormals slow Adam's small CPU ops up to 2x
        self.device, self.amp = pick_device(c.device, c.precision)
        # Under torchrun: this process's rows of each global batch (checked before joining the group)
        self.rows = distributed.local_rows(c.batch_size, distributed.world_from_env())
        self.world, self.device = distributed.init(self.device)
        if self.device.type == "cpu":
            tune_malloc()  # no page faults per op (fstvideo.stylizer.tune_malloc)
        torch.manual_seed(c.seed)
        self.net = build_net(c.net).to(self.device).train()
        if c.init and ck is None:
            from fstvideo.styles import load_style
            init = load_style(c.init)
            if replace(init.config, smooth=c.net.smooth) != c.net:  # smooth changes no weight shapes
                raise TrainError(f"--init {c.init}: architecture {init.config} differs from {c.net}")
            self.net.load_state_dict({k: v.float() for k, v in init.state.items()})
        if c.channels_last:  # before the optimiser and any checkpoint state: one layout throughout
            self.net = self.net.to(memory_format=torch.channels_last)
        self.opt = adam(self.net, c.lr, c.out_lr_scale, self.device)
        self.data = PhotoCrops(c.data, c.image_size, seed=c.seed)
        self.objective = Objective.of(c)
        self.layer_weights = layers = self.objective.layer_weights
        self.vgg = VGGFeatures(tuple(layers) + (c.content_layer,), "vgg16", state=vgg_state,
                               weights_path=c.vgg_weights or None).to(self.device)
        if c.channels_last:
            self.vgg = self.vgg.to(memory_format=torch.channels_last)
        # Style Grams computed once: per layer, n_styles x C x C (fp32).
        per_style = []
        with torch.no_grad():
            for s in c.styles:
                feats = self.vgg(load_painting(s, c.style_size).to(self.device))
                per_style.append({k: losses.gram(feats[k])[0] for k in layers})
            if c.photo_slot:  # its style weight is 0: the Gram target is never used
                per_style.append({k: torch.zeros_like(v) for k, v in per_style[0].items()})
        self.targets = {k: torch.stack([g[k] for g in per_style]) for k in layers}
        self.style_w = self._style_weights()
        self.gen = torch.Generator(device="cpu").manual_seed(c.seed + 1)  # style choice + noise
        self.step, self.history, self.elapsed = 0, [], 0.0
        self._started: tuple = (-1, None, None)  # step count, crop and style streams as the current step began
        self.scaler = torch.amp.GradScaler("cuda") if self.amp == torch.float16 else None
        if ck is not None:
            self.net.load_state_dict(ck["net"])
            self.opt.load_state_dict(ck["opt"])
            self.step, self.elapsed = int(ck["step"]), float(ck["elapsed"])
            self.history = [list(h) for h in ck["history"]]
            self.data.set_state(ck["data_rng"])
            self.gen.set_state(ck["gen_rng"])
            torch.set_rng_state(ck["torch_rng"])
        self.fixed = self._fixed_samples()
        self.model = distributed.wrap(self.net, self.world, self.device)  # self.net unwrapped: saved, sampled

    @torch.no_grad()
    def _style_weights(self) -> torch.Tensor:
        """Per-painting style weight (``n_styles``): ``style_weight``, or with ``style_balance`` the
        balance divided by the style loss that plain photos (8 seeded crops) have against it."""
        c = self.config
        n = c.net.n_styles
        if c.style_balance <= 0:
            return torch.tensor([float(c.style_weight)] * len(c.styles) + [0.0] * (n - len(c.styles)))
        x = PhotoCrops(c.data, c.image_size, seed=777).batch(8).to(self.device)
        fx = self.vgg(x)
        out = []
        for i in range(len(c.styles)):
            ref = float(losses.style_loss(fx, {k: v[i:i + 1] for k, v in self.targets.items()},
                                          self.layer_weights))
            out.append(c.style_balance / max(ref, 1e-12))
        return torch.tensor(out + [0.0] * (n - len(out)))

    def _fixed_samples(self) -> torch.Tensor:
        """Two deterministic photos (centre crops, 1.5x the training size) for sample sheets."""
        size = (int(self.config.image_size * 1.5) // 4) * 4
        probe = PhotoCrops(self.config.data, size, seed=12345, max_scale=1.0)
        return probe.batch(2)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None)

    def train_step(self) -> dict[str, float]:
        c = self.config
        self._started = (self.step, self.data.state(), self.gen.get_state())  # see run()'s except
        # Every process draws the whole global batch (crops, styles, noise) and keeps its rows.
        x = self.data.batch(c.batch_size, self.rows).to(self.device)
        if c.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        idx = torch.randint(0, c.net.n_styles, (c.batch_size,), generator=self.gen)[self.rows]
        mix = F.one_hot(idx, c.net.n_styles).float().to(self.device)
        with self._autocast():
            y = self.model(x, mix)
            fy = self.vgg(y.clamp(0, 1) if c.clamp_vgg_input else y)
            with torch.no_grad():
                fx = self.vgg(x, stop=c.content_layer)
        targets = {k: v[idx.to(self.device)] for k, v in self.targets.items()}
        # Per-painting style weights; the style term ramps up over the warm-up steps.
        ramp = min(1.0, self.step / c.style_warmup) if c.style_warmup else 1.0
        content, style, tv, total = self.objective(y, x, fy, fx, targets, self.style_w[idx].to(self.device),
                                                   style_scale=ramp)
        stab = torch.zeros(())
        if c.stability_weight > 0:
            noise = torch.randn((c.batch_size, *x.shape[1:]), generator=self.gen)[self.rows] * c.stability_sigma
            with self._autocast():
                stab = losses.stability_loss(self.model, x, y, mix=mix, noise=noise.to(self.device))
            total = total + c.stability_weight * stab
        self.opt.zero_grad(set_to_none=True)
        (total if self.scaler is None else self.scaler.scale(total)).backward()
        # The global batch's losses: the mean of the processes' (equal-sized) row means; before
        # the update, so a process that fails here leaves weights and step count consistent
        content, style, tv, stab, total = distributed.mean_over_ranks([content, style, tv, stab, total], self.world)
        out = {"content": c.content_weight * content, "style": style, "tv": c.tv_weight * tv,
               "stability": c.stability_weight * stab, "total": total}
        with held():  # a Ctrl-C/SIGTERM waits: weights, step count and history change together
            if self.scaler is not None:
                self.scaler.step(self.opt)
                self.scaler.update()
            else:
                self.opt.step()
            self.step += 1
            self.history.append([self.step, out["content"], out["style"], out["tv"], out["stability"], out["total"]])
        return out

    def save_checkpoint(self, path: Path | None = None) -> Path:
        path = path or Path(self.config.run_dir) / "checkpoint.pt"
        atomic_torch_save({
            "format": "fstvideo-train-checkpoint", "step": self.step, "elapsed": self.elapsed,
            "config": json.dumps(self.config.to_dict()), "net": self.net.state_dict(),
            "opt": self.opt.state_dict(), "history": self.history, "data_rng": self.data.state(),
            "gen_rng": self.gen.get_state(), "torch_rng": torch.get_rng_state()}, path)
        return path

    @torch.no_grad()
    def save_sample(self, path: Path | None = None) -> Path:
        """PNG: per row one photo | its stylization in each style."""
        path = path or Path(self.config.run_dir) / f"sample-{self.step:06d}.png"
        return sample_sheet(self.net, self.fixed, path)

    def save_loss_curve(self, path: Path | None = None) -> Path | None:
        if not self.history:
            return None
        return plot_history(self.history, path or Path(self.config.run_dir) / "loss.png", self.config.name)

    def final_losses(self, last: int = 50) -> dict[str, float]:
        tail = self.history[-last:]
        keys = ("content", "style", "tv", "stability", "total")
        return {k: sum(h[i + 1] for h in tail) / len(tail) for i, k in enumerate(keys)} if tail else {}

    def export(self, path: str | os.PathLike | None = None) -> Path:
        c = self.config
        training = {"config": c.to_dict(), "steps": self.step, "final_losses": self.final_losses(),
                    "style_weights": [round(float(w), 3) for w in self.style_w],
                    "minutes": round(self.elapsed / 60, 2), "device": str(self.device), "processes": self.world.size,
                    "precision": str(self.amp or "fp32").replace("torch.", "")}
        credit = [painting_credit(s) for s in c.styles]
        return save_style(path or c.out, self.net, c.name, styles=list(c.style_names),
                          training=training, credit=credit, processing=c.style_size)

    def run(self, progress: Callable[[int, int, dict], None] | None = None, bar: bool = True) -> Path:
        """Train to ``config.iterations``; write checkpoints, samples, loss curve, style file."""
        from tqdm import tqdm
        c, writer = self.config, self.world.writer  # one process writes files and shows progress
        pbar = tqdm(total=c.iterations, initial=self.step, desc=c.name, disable=not (bar and writer),
                    mininterval=2.0, dynamic_ncols=True)
        t0 = time.perf_counter()
        base, first = self.elapsed, self.step
        try:
            while self.step < c.iterations:
                out = self.train_step()
                self.elapsed = base + time.perf_counter() - t0
                pbar.update(1)
                pbar.set_postfix(c=f"{out['content']:.3g}", s=f"{out['style']:.3g}", tv=f"{out['tv']:.3g}",
                                 refresh=False)
                if progress is not None and writer:
                    progress(self.step, c.iterations, out)
                if writer and c.sample_every and self.step % c.sample_every == 0:
                    self.save_sample()
                if writer and c.checkpoint_every and self.step % c.checkpoint_every == 0:
                    self.save_checkpoint()
                if c.max_minutes and distributed.any_rank(self.elapsed >= 60 * c.max_minutes, self.world):
                    break
        except BaseException:  # Ctrl-C, SIGTERM, a failure: the steps done so far are kept
            pbar.close()
            step, data_rng, gen_rng = self._started
            if step == self.step:  # stopped inside a step: its random draws are made again on resume
                self.data.set_state(data_rng)
                self.gen.set_state(gen_rng)
            if writer and self.step > first:
                try:
                    self.save_checkpoint()
                except Exception:  # e.g. the disk that failed: the original error matters more
                    pass
            raise
        pbar.close()
        if not writer:
            return Path(c.out)
        self.save_checkpoint()
        self.save_sample()
        self.save_loss_curve()
        return self.export()


def pretrain_identity(net: StyleNet, data: PhotoCrops, steps: int, batch_size: int = 4,
                      lr: float = 2e-3, log: Callable[[int, float], None] | None = None) -> float:
    """Teach ``net`` to reproduce its input (pixel MSE): a cheap warm start (no VGG) so that
    style training begins from a net that already keeps the content. Returns the last MSE."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    n = net.config.n_styles
    loss = torch.zeros(())
    for i in range(steps):
        x = data.batch(batch_size)
        mix = F.one_hot(torch.randint(0, n, (batch_size,)), n).float()
        loss = F.mse_loss(net(x, mix), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if log is not None:
            log(i + 1, float(loss.detach()))
    return float(loss.detach())


def train(config: TrainConfig, progress: Callable[[int, int, dict], None] | None = None,
          resume: str | os.PathLike | None = None, bar: bool = True) -> Path:
    """Train a style net by ``config`` (or continue the checkpoint ``resume``); returns the style file."""
    return Trainer(config, resume=resume).run(progress=progress, bar=bar)
