"""Train the five bundled styles sequentially (resumable): ``python -m fstvideo.train.bundled``.

Each style resumes from ``runs/<name>/checkpoint.pt`` when present and is skipped when its
``assets/<name>.safetensors`` exists. Settings are the ones recorded in assets/README.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from .trainer import TrainConfig, Trainer

BUNDLED = ("starry_night", "the_scream", "wave", "composition_vii", "udnie")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
ASSETS = Path(__file__).resolve().parents[1] / "assets"
# Per-style overrides of the common settings below (style_size: px of the painting's longest side).
# style_weight = 3 / (unweighted style loss of photos against the painting, measured on 8 crops):
# every style then starts at the same style/content balance (a photo costs 3 in style, a grey
# image ~4.7 in content), so the net keeps the content while it learns the painting's statistics.
OVERRIDES: dict[str, dict] = {
    "starry_night": {"style_weight": 2000.0},
    "the_scream": {"style_weight": 5500.0},
    "wave": {"style_weight": 1500.0},  # 3900 collapsed to a flat orange image within 260 steps
    "composition_vii": {"style_weight": 1700.0},
    "udnie": {"style_weight": 5000.0},
}


def bundled_config(name: str, iterations: int, **kw) -> TrainConfig:
    base = dict(styles=(str(SHARED / "styles" / f"{name}.jpg"),), data=str(SHARED / "photos"),
                out=str(ASSETS / f"{name}.safetensors"), name=name, image_size=128, style_size=256,
                batch_size=2, iterations=iterations, lr=2e-3, content_weight=1.0, style_weight=5e3,
                tv_weight=10.0, style_warmup=100, checkpoint_every=50, sample_every=50, precision="fp32", threads=2,
                run_dir=str(Path(__file__).resolve().parents[1] / "runs" / name))
    base.update(OVERRIDES.get(name, {}))
    base.update(kw)
    return TrainConfig(**base)


MULTI = "five_styles"


def multi_config(iterations: int, **kw) -> TrainConfig:
    """All five paintings in one conditional-instance-norm net (Dumoulin et al. 2017): the
    convolutions see every step, so each style gets far more useful training per CPU minute than a
    separate run. Settings chosen after the 11-minute single-style runs came out blurry: lower TV
    (10 smoothed away all brush texture), a larger painting (bolder strokes), per-painting balanced
    style weights (``style_balance``). The shipped run used balance 4 for its first 2000 steps (the
    net first learns to keep the content), then 8 (resumed with the raised balance): at 4 the
    style loss had stalled at ~60% of a plain photo's."""
    base = dict(styles=tuple(str(SHARED / "styles" / f"{n}.jpg") for n in BUNDLED), data=str(SHARED / "photos"),
                out=str(ASSETS / f"{MULTI}.safetensors"), name=MULTI, style_names=BUNDLED, photo_slot=True, image_size=128,
                style_size=320, batch_size=2, iterations=iterations, lr=1.5e-3, content_weight=1.0,
                style_balance=8.0, tv_weight=1.0, style_warmup=200, checkpoint_every=100, sample_every=200,
                precision="fp32", threads=2, run_dir=str(Path(__file__).resolve().parents[1] / "runs" / MULTI))
    base.update(kw)
    return TrainConfig(**base)


def derive_bundled(fast_iterations: int = 1200, log=print) -> None:
    """From assets/five_styles.safetensors: the one-painting files (each painting + the photo
    slot, so strength interpolates norms), the fast 6-slot student (distilled) and its one-painting
    files. All share the multi-style model's convolutions; nothing is trained twice."""
    from fstvideo.styles import extract_styles, load_style

    from .distill import DistillConfig, distill
    multi = load_style(ASSETS / f"{MULTI}.safetensors")
    for name in BUNDLED:
        log(f"wrote {extract_styles(multi, [name, 'photo'], ASSETS / f'{name}.safetensors')}")
    fast = ASSETS / f"{MULTI}_fast.safetensors"
    if not fast.exists():
        distill(DistillConfig(teachers=(str(multi.path),), data=str(SHARED / "photos"), out=str(fast),
                              iterations=fast_iterations, threads=2), log=log)
    fast_style = load_style(fast)
    for name in BUNDLED:
        log(f"wrote {extract_styles(fast_style, [name, 'photo'], ASSETS / f'{name}_fast.safetensors', name=f'{name}_fast')}")


def write_credits(path: Path = ASSETS / "README.md") -> Path:
    """assets/README.md from the metadata of the bundled style files (credit + training)."""
    from fstvideo.styles import load_style
    if not (ASSETS / f"{MULTI}.safetensors").exists():
        return path
    multi = load_style(ASSETS / f"{MULTI}.safetensors")
    tr = multi.meta.get("training", {})
    c = tr.get("config", {})
    fl = tr.get("final_losses", {})
    weights = dict(zip(c.get("style_names", []), tr.get("style_weights", [])))
    lines = ["# Bundled styles", "",
             "Feed-forward style networks (Johnson et al. 2016) trained by this project with the ImageNet",
             "VGG16 loss network (weights from `fstvideo weights vgg16`) on the 65 photos of `shared/photos`.",
             "The weights are the project's own work; the paintings are public domain and are not shipped.", "",
             f"- `{MULTI}.safetensors`: ONE conditional-instance-norm network (Dumoulin et al. 2017) holding",
             "  the five paintings plus a content-only `photo` slot (style strength interpolates toward it).",
             f"  `python -m fstvideo.train.bundled {MULTI}`: {tr.get('steps')} steps, {tr.get('minutes')} min on a",
             f"  2-core AVX2 CPU (fp32, channels_last), {c.get('image_size')} px crops, batch {c.get('batch_size')},"
             f" paintings at {c.get('style_size')} px,",
             f"  Adam lr {c.get('lr')}, content weight {c.get('content_weight')} (relu2_2), style layers relu1_2/2_2/"
             f"3_3/4_3, TV {c.get('tv_weight')},",
             f"  style balance {c.get('style_balance')} (per painting, style weight = balance / style loss of plain"
             " photos), out-of-range",
             f"  weight {c.get('range_weight')}, style warm-up {c.get('style_warmup')} steps. Last-50-step losses:"
             f" content {fl.get('content', 0):.2f},",
             f"  style {fl.get('style', 0):.2f}, tv {fl.get('tv', 0):.3f}.",
             "- `<painting>.safetensors`: that painting's slot + the photo slot, extracted from it",
             "  (`fstvideo.styles.extract_styles`): same convolutions, same outputs.",
             f"- `{MULTI}_fast.safetensors` and `<painting>_fast.safetensors`: the fast CPU variant",
             "  (widths 16/32/64, 3 depthwise blocks, 5x5 outer convs) distilled from the multi-style model",
             "  (`python -m fstvideo.train.bundled --derive`)."]
    fast = ASSETS / f"{MULTI}_fast.safetensors"
    if fast.exists():
        ft = load_style(fast).meta.get("training", {})
        d = ft.get("distill", {})
        lines.append(f"  Distillation: {d.get('iterations')} steps, batch {d.get('batch_size')} x {d.get('crop')} px"
                     f" crops, teacher outputs at {d.get('teacher_size')} px, {ft.get('minutes')} min,"
                     f" final L1+gradient loss {ft.get('final_loss', 0):.3f}.")
    lines += ["", "| style | work | artist | year | status | style weight |", "|---|---|---|---|---|---|"]
    credit = {cr.get("style"): cr for cr in multi.meta.get("credit", [])}
    for name in BUNDLED:
        cr = credit.get(name, {})
        lines.append(f"| {name} | {cr.get('work', '')} | {cr.get('artist', '')} | {cr.get('year', '')} | "
                     f"{cr.get('status', '')} | {weights.get(name, 0):.4g} |")
    lines += ["", "Paintings (shared/styles/SOURCES.md): public domain reproductions; credit the work and artist",
              "when showing a preview.", "",
              "docs/preview.jpg (`python -m fstvideo.train.preview`): photo `china.jpg` from scikit-learn, by",
              "danielbuechele on flickr (photo 6061409035), CC BY 2.0; stylized versions are adaptations under",
              "the same license. docs/loss_curves.png: training losses."]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", default=list(BUNDLED))
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--minutes", type=float, default=0.0, help="training-time cap per style")
    ap.add_argument("--derive", action="store_true",
                    help=f"after {MULTI}: extract the one-painting files, distill and extract the fast ones")
    ap.add_argument("--fast-iterations", type=int, default=1200, help="distillation steps (--derive)")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    if a.derive:
        derive_bundled(a.fast_iterations)
        write_credits()
        return 0
    for name in a.names:
        cfg = (multi_config(a.iterations, max_minutes=a.minutes) if name == MULTI
               else bundled_config(name, a.iterations, max_minutes=a.minutes))
        if Path(cfg.out).exists():
            print(f"{name}: {cfg.out} exists, skipped", flush=True)
            continue
        ck = Path(cfg.run_dir) / "checkpoint.pt"
        t = Trainer(cfg, resume=ck if ck.exists() else None)
        out = t.run(bar=True)
        print(f"{name}: wrote {out} after {t.step} steps, {t.elapsed / 60:.1f} min, "
              f"losses {t.final_losses()}", flush=True)
    write_credits()
    return 0


if __name__ == "__main__":
    sys.exit(main())
