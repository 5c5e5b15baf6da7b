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
    style weights (``style_balance``). A first run raised the balance from 4 to 8 at step 2000
    (resumed, Adam state kept): within 400 steps every slot collapsed to a flat image with black
    holes (runs/five_styles-collapsed); the shipped run keeps 4 throughout."""
    base = dict(styles=tuple(str(SHARED / "styles" / f"{n}.jpg") for n in BUNDLED), data=str(SHARED / "photos"),
                out=str(ASSETS / f"{MULTI}.safetensors"), name=MULTI, style_names=BUNDLED, photo_slot=True, image_size=128,
                style_size=320, batch_size=2, iterations=iterations, lr=1.5e-3, content_weight=1.0,
                style_balance=4.0, tv_weight=1.0, style_warmup=200, checkpoint_every=100, sample_every=200,
                precision="fp32", threads=2, run_dir=str(Path(__file__).resolve().parents[1] / "runs" / MULTI))
    base.update(kw)
    return TrainConfig(**base)


def derive_bundled(fast_iterations: int = 1200, log=print) -> None:
    """The bundled multi-style model: the fast CPU variant distilled from the five one-painting
    files at once (one conditional-norm student, plus an identity "photo" slot for strength),
    and the one-painting fast files extracted from it (same convolutions)."""
    from fstvideo.styles import extract_styles, load_style

    from .distill import DistillConfig, distill
    fast = ASSETS / f"{MULTI}_fast.safetensors"
    if not fast.exists():
        distill(DistillConfig(teachers=tuple(str(ASSETS / f"{n}.safetensors") for n in BUNDLED),
                              data=str(SHARED / "photos"), out=str(fast), name=f"{MULTI}_fast",
                              iterations=fast_iterations, threads=2, photo_slot=True), log=log)
    fast_style = load_style(fast)
    for name in BUNDLED:
        log(f"wrote {extract_styles(fast_style, [name, 'photo'], ASSETS / f'{name}_fast.safetensors', name=f'{name}_fast')}")


def write_credits(path: Path = ASSETS / "README.md") -> Path:
    """assets/README.md from the metadata of the bundled style files (credit + training)."""
    from fstvideo.styles import load_style
    lines = ["# Bundled styles", "",
             "Each `*.safetensors` here is a feed-forward style network (Johnson et al. 2016) trained by this",
             "project with `python -m fstvideo.train.bundled` on the 65 photos of `shared/photos` and the",
             "painting below, with the ImageNet VGG16 loss network (weights from `fstvideo weights vgg16`).",
             "The weights are the project's own work; the paintings are public domain and are not shipped.", "",
             "| style | work | artist | year | status | steps | minutes | crop/batch | style size | "
             "style weight | content / style / tv loss (last 50 steps) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in BUNDLED:
        f = ASSETS / f"{name}.safetensors"
        if not f.exists():
            lines.append(f"| {name} | (not trained) |||||||||")
            continue
        st = load_style(f)
        cr = (st.meta.get("credit") or [{}])[0]
        tr = st.meta.get("training", {})
        c = tr.get("config", {})
        fl = tr.get("final_losses", {})
        lines.append(f"| {name} | {cr.get('work', '')} | {cr.get('artist', '')} | {cr.get('year', '')} | "
                     f"{cr.get('status', '')} | {tr.get('steps')} | {tr.get('minutes')} | "
                     f"{c.get('image_size')}px / {c.get('batch_size')} | {c.get('style_size')}px | "
                     f"{c.get('style_weight'):g} | {fl.get('content', 0):.2f} / {fl.get('style', 0):.2f} / "
                     f"{fl.get('tv', 0):.2f} |")
    lines += ["", "Common settings: Adam lr 2e-3, content weight 1 (relu2_2), style layers relu1_2, relu2_2,",
              "relu3_3, relu4_3 (weight 1 each; Grams / (C*H*W)), mean-abs TV weight 10, out-of-range",
              "weight 100 (VGG sees the clamped output), style weight ramped up over the first 100 steps,",
              "fp32 on a shared 2-core CPU (AMD EPYC, AVX2, no bf16), time-capped per style. The style weight",
              "is 3 / (style loss of plain photos against that painting), so every painting starts from the same",
              "balance. These are short CPU runs: a GPU run of 20k+ steps (`fstvideo train`) gives finer",
              "brush texture.", "",
              "Known weakness of this set: only 145-585 steps each (the CPU was shared); expect the",
              "painting's palette and a little texture rather than full brush strokes. wave was retrained",
              "with style weight 1500 after 3900 collapsed to a flat image; it got the fewest steps.", "",
              "Paintings (shared/styles/SOURCES.md): public domain reproductions; credit the work and artist",
              "when showing a preview.", "",
              "docs/preview.jpg (`python -m fstvideo.train.preview`): photo `china.jpg` from scikit-learn, by",
              "danielbuechele on flickr (photo 6061409035), CC BY 2.0; stylized versions are adaptations under",
              "the same license. docs/loss_curves.png: training losses of the five styles."]
    fast = ASSETS / f"{MULTI}_fast.safetensors"
    if fast.exists():
        ft = load_style(fast).meta.get("training", {})
        d = ft.get("distill", {})
        lines += ["", f"`{MULTI}_fast.safetensors`: ONE conditional-instance-norm network (Dumoulin et al. 2017) with",
                  "the five styles above plus an identity `photo` slot (`--strength-mode norm` interpolates toward it),",
                  "in the fast CPU architecture (widths 16/32/64, 3 depthwise-separable blocks, 5x5 outer convs),",
                  "distilled from the five files above at once (`python -m fstvideo.train.bundled --derive`:",
                  f"{d.get('iterations')} steps, batch {d.get('batch_size')} x {d.get('crop')} px crops, teacher outputs at "
                  f"{d.get('teacher_size')} px, {ft.get('minutes')} min, final L1+gradient loss {ft.get('final_loss', 0):.3f}).",
                  "`<name>_fast.safetensors`: that style's slot + the photo slot extracted from it",
                  "(`fstvideo.styles.extract_styles`; same outputs)."]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", default=list(BUNDLED))
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--minutes", type=float, default=0.0, help="training-time cap per style")
    ap.add_argument("--derive", action="store_true",
                    help=f"distill {MULTI}_fast from the five one-painting files, extract <name>_fast")
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
