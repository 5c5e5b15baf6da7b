"""Distillation of a trained style into the fast CPU variant (``fstvideo.model.FAST_CONFIG``).

Knowledge distillation (Hinton et al. 2015) applied to feed-forward style transfer, as in
Wang et al. 2020 ("Collaborative Distillation for Ultra-Resolution Universal Style Transfer"):
the student learns to reproduce the teacher's *output image*. Teacher outputs are computed once
per photo (at ``teacher_size``), then the student trains on random aligned crops of (photo,
teacher output) pairs. Loss: L1 on pixels plus L1 on image gradients (the gradient term keeps
brush-stroke edges that a pixel loss alone blurs), plus optionally (``gram_weight``) the Gram
style loss of Gatys et al. 2015 between the student's and the teacher's outputs on the same
crop: a pixel loss alone averages the strokes it cannot place exactly into a blur, a Gram loss
asks only for the same texture statistics (as in perceptual distillation, Wang et al. 2020);
and optionally (``feature_weight``) Johnson et al.'s feature reconstruction loss on relu2_2 with
the teacher's output as the target, which keeps edges in place while the Gram term adds texture.

``student_scale`` < 1 trains the student for a reduced processing size (``--scale``): the student
sees the crop downscaled, its output is guided-upsampled (``fstvideo.guided``, differentiable) back
to the crop's size, and every loss compares that with the teacher's full-size output. The file
records it, and ``convert`` runs the file at that scale by default (``styles.trained_scale``).

Several teachers make one N-style student (conditional instance norm, Dumoulin et al. 2017):
each crop picks a random style and is paired with that teacher's output.
"""
from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from fstvideo.errors import FstError
from fstvideo.guided import downscale, guided_upsample
from fstvideo.model import FAST_CONFIG, NetConfig, build_net
from fstvideo.stylemeta import painting_of, slot_style_weight, training_config
from fstvideo.styles import load_style, save_style
from fstvideo.stylizer import tune_malloc

from . import distributed
from .data import find_images, load_painting, pair_crops, teacher_pairs
from .grow import can_grow, grow
from .losses import content_loss, gram, grid_pattern, lattice, lowpass_l1, spectral_excess, style_loss
from .objective import Objective, adam
from .trainer import pick_device
from .vgg import JOHNSON_STYLE, VGGFeatures


class DistillError(FstError):
    """Unusable distillation options (e.g. an --init file of another architecture)."""


@dataclass(frozen=True)
class DistillConfig:
    teachers: tuple[str, ...]          # style files (names or paths); every slot of every file becomes
                                       # one slot of the student (N slots in all -> N-style student)
    data: str                          # folder of photos
    out: str                           # student style file
    name: str = ""                     # display name; default "<teacher name>_fast"
    net: NetConfig = FAST_CONFIG       # student architecture (n_styles forced to the slot count)
    teacher_size: int = 384            # photos resized so the longest side is this before the teacher runs, px
    student_scale: float = 1.0         # the student sees each crop scaled by this, its output is guided-
                                       # upsampled back and compared at full size: 0.5 trains for
                                       # `convert --scale 0.5` (trained_scale then picks it)
    crop: int = 128                    # training crop side, px (multiple of the student's multiple: 4 or 8)
    batch_size: int = 8                # crops per step
    iterations: int = 1500             # optimiser steps
    lr: float = 2e-3                   # Adam learning rate (cosine-decayed to 0)
    grad_weight: float = 1.0           # weight of the image-gradient L1 term
    gram_weight: float = 0.0           # >0: weight of the VGG16 Gram loss against the teacher's output (each
                                       # slot also scaled by the style weight its teacher trained with);
                                       # needs the VGG16 weights; ~4x slower steps
    feature_weight: float = 0.0        # >0: weight of the relu2_2 feature MSE against the teacher's output (Johnson's
                                       # content loss, the teacher's image as target): keeps structure sharp
                                       # where L1 blurs it and the Gram term alone smears it
    lattice_weight: float = 0.0        # >0: weight of the energy of a pattern repeating on the student's
                                       # multiple-pixel grid (losses.grid_pattern), in [0,1] units squared:
                                       # the stride-4/8 student paints one (a 4/8-px lattice) when the Gram
                                       # term asks for fine texture
    spectral_weight: float = 0.0       # >0: weight of the student's excess spectral power over the teacher's
                                       # output (losses.spectral_excess, log units): a periodic pattern the
                                       # teacher does not paint, at any period and phase
    hatch_weight: float = 0.0          # >0: weight of losses.lattice (relative; periods 2, 4, 8 px, as the full
                                       # models' own lattice term) on the student's output (~0.1 for a visible
                                       # hatch): a hatch repeating along the pixel axes at any phase, which
                                       # grid_pattern (one global phase) and spectral_excess (the teacher's
                                       # own diagonal hatch has power at the same frequencies) let through
    pixel_weight: float = 1.0          # weight of the L1 + image-gradient term against the teacher's output
                                       # (0 with painting_weight: the student need not put each stroke where
                                       # the teacher put it)
    painting_weight: float = 0.0       # >0: weight of the teacher's own training loss (Johnson et al. 2016:
                                       # relu2_2 content loss against the photo, Gram style loss against the
                                       # painting, TV, out-of-range; the teacher's weights); needs its painting
    painting_style_scale: float = 1.0  # multiplies the teacher's style weight in the painting loss: at the
                                       # teacher's balance the small student settles at a lower content and a
                                       # higher style loss than the teacher; >1 moves it along that trade-off
    lowpass_weight: float = 0.0        # >0: weight of the L1 between 8x8-block means of the student's and the
                                       # teacher's outputs (losses.lowpass_l1): the teacher's palette and
                                       # tones, with the texture inside each block left to the painting loss
    out_lr_scale: float = 1.0          # lr of the output layer (the net's output_parameters()) relative to lr,
                                       # as TrainConfig.out_lr_scale: 0.01 with painting_weight, where pixels
                                       # against the painting move too far per step otherwise
    vgg_weights: str = ""              # explicit VGG16 weights file (gram/feature/painting weight > 0);
                                       # default: weights.find_vgg
    init: str = ""                     # student style file to start from (same slots; same architecture, or
                                       # one `net` widens: grow.grow keeps its outputs)
    photo_slot: bool = False           # add a "photo" slot whose target is the photo itself (identity):
                                       # strength then interpolates norms toward it (StylizerOptions)
    photo_share: float | None = None   # fraction of crops given to the "photo" slot, the other slots sharing
                                       # the rest; None: every slot alike (a one-style run with --photo-slot
                                       # then spends half its crops on the photo)
    save_every: int = 0                # >0: also write <out stem>_step<N>.safetensors every this many steps
                                       # (to score a long run part-way; the last step writes `out`)
    precision: str = "fp32"            # "auto" (bf16 autocast on CPUs with native bf16: ~1.7x faster VGG16
                                       # steps; else fp32), "fp32" or "bf16"; losses are summed in fp32
    seed: int = 0                      # seeds init, crops and style choice
    threads: int = 0                   # torch CPU threads (0: torch's default)


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences of ``BxCxHxW`` along H and W: ``Bx C x(H-1)xW`` and ``BxCxHx(W-1)``."""
    return x[:, :, 1:, :] - x[:, :, :-1, :], x[:, :, :, 1:] - x[:, :, :, :-1]


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, grad_weight: float) -> torch.Tensor:
    """L1(student, teacher) + grad_weight * L1 of their image gradients; Bx3xHxW -> scalar."""
    loss = F.l1_loss(student, teacher)
    for a, b in zip(image_gradients(student), image_gradients(teacher)):
        loss = loss + grad_weight * F.l1_loss(a, b)
    return loss


@torch.no_grad()
def painting_grams(teacher, slot: str, vgg: VGGFeatures) -> dict[str, torch.Tensor]:
    """``{tap: 1xCxC}`` Grams of the painting ``slot`` of ``teacher`` was trained on, at its training size."""
    try:
        path = painting_of(teacher, slot)
    except FstError as e:
        raise DistillError(f"--painting-weight: {e}") from None
    size = int(training_config(teacher).get("style_size", 320))
    return {k: gram(v) for k, v in vgg(load_painting(path, size)).items()}


def distill(config: DistillConfig, log=print) -> Path:
    """Train the student and write it as a style file; returns its path."""
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.set_flush_denormal(True)  # denormals slow Adam's small ops on CPU
    tune_malloc()  # no page faults per op (fstvideo.stylizer.tune_malloc)
    # Under torchrun: every process draws each global batch and keeps its rows (train/distributed.py)
    rows = distributed.local_rows(config.batch_size, distributed.world_from_env())
    world, _ = distributed.init(torch.device("cpu"))
    log = log if world.writer else (lambda *_: None)
    if world.active:
        log(distributed.describe(world, config.batch_size, torch.device("cpu")))
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    _, amp = pick_device("cpu", config.precision)
    autocast = torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None)
    teachers = [load_style(t) for t in config.teachers]
    photos = find_images(config.data)
    start = time.perf_counter()
    pairs, names, weights, sources = [], [], [], []  # sources: (teacher, slot) per student slot
    for t in teachers:
        net = t.build("cpu")
        for i, slot in enumerate(t.styles):
            if slot in names:  # e.g. the "photo" slot of several one-painting files: learn it once
                log(f"teacher {t.name}/{slot}: slot name taken, skipped")
                continue
            weights.append(slot_style_weight(t, slot))
            net.set_mix(F.one_hot(torch.tensor(i), len(t.styles)).float())
            pairs.append(teacher_pairs(net, photos, config.teacher_size))
            names.append(slot)
            sources.append((t, slot))
            log(f"teacher {t.name}/{slot}: {len(photos)} outputs in {time.perf_counter() - start:.0f} s")
    if config.photo_slot and "photo" not in names:
        pairs.append([(x, x) for x, _ in pairs[0]])
        names.append("photo")
        weights.append(0.0)
        sources.append(None)
    n = len(names)
    share = None  # per-slot crop probabilities (photo_share), else uniform
    if config.photo_share is not None and "photo" in names and n > 1:
        if not 0 <= config.photo_share < 1:
            raise DistillError(f"--photo-share must be in [0, 1) (got {config.photo_share})")
        share = [config.photo_share if k == "photo" else (1 - config.photo_share) / (n - 1) for k in names]
    net_config = replace(config.net, n_styles=n)
    student = build_net(net_config).train()
    if config.crop % student.multiple:
        raise DistillError(f"--crop must be a multiple of {student.multiple} for this architecture (got {config.crop})")
    if config.init:
        init = load_style(config.init)
        state = {k: v.float() for k, v in init.state.items()}
        if init.config != net_config and can_grow(init.config, net_config) and tuple(init.styles) == tuple(names):
            student = grow(state, init.config, net_config, seed=config.seed).train()  # same outputs, more channels
        elif init.config != net_config or tuple(init.styles) != tuple(names):
            raise DistillError(f"--init {config.init}: {init.config} with slots {init.styles} differs from "
                               f"{net_config} with slots {tuple(names)} (only widths and fine may grow)")
        else:
            student.load_state_dict(state)
    opt = adam(student, config.lr, config.out_lr_scale, torch.device("cpu"))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.iterations)
    model = distributed.wrap(student, world, torch.device("cpu"))
    vgg, layers = None, {k: 1.0 for k in JOHNSON_STYLE}
    if config.gram_weight > 0 or config.feature_weight > 0 or config.painting_weight > 0:
        # NHWC: ~18% faster VGG steps on a 2-core AVX2 CPU (as in the trainer)
        vgg = VGGFeatures(JOHNSON_STYLE, "vgg16", weights_path=config.vgg_weights or None).to(
            memory_format=torch.channels_last)
        slot_w = torch.tensor(weights)
    if config.painting_weight > 0:  # the teacher's objective at its weights (its training config)
        own = Objective.of_teacher(training_config(teachers[0]))
        per_slot = [painting_grams(*src, vgg) if src else None for src in sources]
        zeros = {k: torch.zeros_like(v) for k, v in next(g for g in per_slot if g).items()}  # photo slot: weight 0
        painting = {k: torch.cat([(g or zeros)[k] for g in per_slot]) for k in zeros}  # n x C x C per tap
    history, grams = [], []  # total loss per step; the weighted Gram term per step (gram_weight > 0)
    for step in range(1, config.iterations + 1):
        x, y, s = (t[rows] for t in pair_crops(pairs, config.crop, config.batch_size, rng, share))
        mix = F.one_hot(s, n).float()
        with autocast:
            if config.student_scale < 1.0:
                small = downscale(x, config.student_scale, student.multiple)
                out = guided_upsample(model(small, mix), small, x).float()
            else:
                out = model(x, mix).float()
        loss = config.pixel_weight * distill_loss(out, y, config.grad_weight)
        if config.lowpass_weight > 0:
            loss = loss + config.lowpass_weight * lowpass_l1(out, y)
        if config.spectral_weight > 0:
            loss = loss + config.spectral_weight * spectral_excess(out, y)
        if config.hatch_weight > 0:
            loss = loss + config.hatch_weight * lattice(out, relative=True)
        if config.lattice_weight > 0:
            # the student's grid in output pixels (its multiple, / scale when it runs reduced)
            loss = loss + config.lattice_weight * grid_pattern(out, round(student.multiple / config.student_scale))
        if vgg is not None:
            with autocast:
                fo = vgg(out.contiguous(memory_format=torch.channels_last))
        if config.gram_weight > 0 or config.feature_weight > 0:
            with torch.no_grad(), autocast:
                fy = vgg(y.contiguous(memory_format=torch.channels_last))
                target = {k: gram(v) for k, v in fy.items()}
            g = config.gram_weight * style_loss(fo, target, layers, slot_w[s])
            loss = loss + g
            if config.feature_weight > 0:
                loss = loss + config.feature_weight * content_loss(fo["relu2_2"], fy["relu2_2"])
        if config.painting_weight > 0:  # the teacher's own objective, against the photo and the painting
            with torch.no_grad(), autocast:
                fx = vgg(x.contiguous(memory_format=torch.channels_last), stop=own.content_layer)
            terms = own(out, x, fo, fx, {k: v[s] for k, v in painting.items()}, slot_w[s],
                        style_scale=config.painting_style_scale)
            loss = loss + config.painting_weight * terms.total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        gram_term = config.gram_weight > 0 or config.feature_weight > 0
        mean = distributed.mean_over_ranks([loss, g] if gram_term else [loss], world)  # the global batch's
        history.append(mean[0])
        grams.extend(mean[1:])
        if step % 100 == 0 or step == config.iterations:
            avg = sum(history[-100:]) / len(history[-100:])
            g_avg = f", of it Gram {sum(grams[-100:]) / len(grams[-100:]):.4f}" if grams else ""
            log(f"step {step}/{config.iterations} loss {avg:.4f}{g_avg} ({time.perf_counter() - start:.0f} s)")
        if world.writer and config.save_every and step % config.save_every == 0 and step < config.iterations:
            snap = Path(config.out).with_name(f"{Path(config.out).stem}_step{step}.safetensors")
            _save(snap, config, teachers, student, names, weights, net_config, history, grams, start)
            log(f"wrote {snap}")
    if not world.writer:
        return Path(config.out)
    return _save(config.out, config, teachers, student, names, weights, net_config, history, grams, start)


def _save(out, config, teachers, student, names, weights, net_config, history, grams, start):
    minutes = (time.perf_counter() - start) / 60
    name = config.name or (f"{teachers[0].name}_fast" if len(teachers) == 1 else "multi_fast")
    credit = [c for t in teachers for c in t.meta.get("credit", [])]
    # "config" keeps the teacher's loss definitions and paintings, so `bench quality` scores the
    # student exactly as it scores the teacher; "distill" is this run's own config.
    teacher_cfg = dict(training_config(teachers[0]))
    teacher_cfg["styles"] = [p for t in teachers for p in training_config(t).get("styles", [])]
    teacher_cfg["style_names"] = names  # with style_weights below: each slot's training weight
    training = {"method": "distillation", "config": teacher_cfg,
                "distill": {**asdict(config), "net": net_config.to_dict()},
                "teachers": [str(t.path) for t in teachers], "steps": len(history),
                "style_weights": weights, "final_loss": sum(history[-50:]) / len(history[-50:]),
                "final_gram_loss": sum(grams[-50:]) / len(grams[-50:]) if grams else None,
                "minutes": round(minutes, 1)}
    return save_style(out, student, name, styles=names, training=training, credit=credit)
