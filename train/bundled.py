"""Train the bundled styles (resumable): ``python -m fstvideo.train.bundled``.

The recipes are data, in ``train/recipes.toml`` (each value with its reason); this module turns
them into TrainConfig/DistillConfig objects with the project's paths and runs them in order. Each
style resumes from ``runs/<name>-<stage>/checkpoint.pt`` when present and is skipped when its
``assets/<name>.safetensors`` exists. :func:`write_credits` writes assets/README.md from the files'
metadata and ``train/assets_readme.md.in``.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import torch

from .trainer import TrainConfig, Trainer

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, as a package (the `train` extra)
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
ASSETS = HERE.parent / "assets"
RUNS = HERE.parent / "runs"
RECIPES: dict = tomllib.loads((HERE / "recipes.toml").read_text(encoding="utf-8"))
TEMPLATE = HERE / "assets_readme.md.in"

BUNDLED: tuple[str, ...] = tuple(RECIPES["bundled"])
MULTI: str = RECIPES["multi"]["name"]
# Per-style overrides of [base] (recipes.toml: [base.overrides]), run folders under runs/.
OVERRIDES: dict[str, dict] = {n: {**o, **({"run_dir": str(RUNS / o["run_dir"])} if "run_dir" in o else {})}
                              for n, o in RECIPES["base"].get("overrides", {}).items()}
PAINT: dict = {k: v for k, v in RECIPES["paint"].items() if k not in ("balance", "droplets")}
PAINT_BALANCE: dict[str, float] = RECIPES["paint"].get("balance", {})
PAINT_DROPLETS: dict = RECIPES["paint"].get("droplets", {})  # extra terms, for the paintings listed
FAST_STAGES: tuple[dict, ...] = tuple(RECIPES["fast"]["stages"])
TUNE_GRAM_WEIGHT: float = FAST_STAGES[1]["gram_weight"]  # the first stage with the Gram loss
POLISH_COMMON: dict = RECIPES["polish"]["common"]
POLISH_STAGES: dict[str, tuple[dict, ...]] = {n: tuple(s) for n, s in RECIPES["polish"]["stages"].items()}
POLISH_AVERAGE: dict[str, float] = RECIPES["polish"].get("average", {})
POLISH_AVERAGE_WITH: dict[str, int] = RECIPES["polish"].get("average_with", {})


def _base() -> dict:
    return {k: v for k, v in RECIPES["base"].items() if k != "overrides"}


def bundled_config(name: str, iterations: int, init_dir: str = "", **kw) -> TrainConfig:
    """The ``[base]`` recipe for one bundled style (with its ``[base.overrides]``). ``init_dir``:
    start from ``<init_dir>/<name>.safetensors`` (a net that already keeps the content, so no
    style warm-up); else from scratch."""
    init = Path(init_dir) / f"{name}.safetensors" if init_dir else None
    base = dict(styles=(str(SHARED / "styles" / f"{name}.jpg"),), data=str(SHARED / "photos"),
                out=str(ASSETS / f"{name}.safetensors"), name=name, iterations=iterations,
                init=str(init) if init else "", run_dir=str(RUNS / f"{name}-base"))
    base.update(_base())
    if init:
        base["style_warmup"] = 0
    base.update(OVERRIDES.get(name, {}))
    base.update(kw)
    return TrainConfig(**base)


def paint_config(name: str, minutes: float, init_dir: str, **kw) -> TrainConfig:
    """The ``[paint]`` recipe for one bundled style (its ``[paint.balance]``), from
    ``<init_dir>/<name>.safetensors``, for at most ``minutes`` of training."""
    recipe = {k: v for k, v in PAINT.items() if k != "net"}
    base = bundled_config(name, recipe.pop("iterations"), init_dir)
    if name in PAINT_BALANCE:
        recipe["style_balance"] = PAINT_BALANCE[name]
    if name in PAINT_DROPLETS.get("styles", ()):
        recipe.update({k: v for k, v in PAINT_DROPLETS.items() if k != "styles"})
    return replace(base, **{**recipe, "net": replace(base.net, **PAINT.get("net", {})), "max_minutes": minutes,
                            "run_dir": str(RUNS / f"{name}-paint"), **kw})


def multi_config(iterations: int, **kw) -> TrainConfig:
    """The ``[multi]`` recipe: all bundled paintings in one conditional-instance-norm net
    (Dumoulin et al. 2017) with a photo slot."""
    base = dict(styles=tuple(str(SHARED / "styles" / f"{n}.jpg") for n in BUNDLED), data=str(SHARED / "photos"),
                out=str(ASSETS / f"{MULTI}.safetensors"), style_names=BUNDLED, iterations=iterations,
                run_dir=str(RUNS / MULTI))
    base.update(RECIPES["multi"])
    base.update(kw)
    return TrainConfig(**base)


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
    """The DistillConfig of one ``[polish]`` stage of ``name``: ``[polish.common]``, then the stage's own options."""
    from .distill import DistillConfig
    options = {**POLISH_COMMON, **{key: v for key, v in stage.items() if key != "init"}}
    return DistillConfig(teachers=(str(ASSETS / f"{name}.safetensors"),), data=str(SHARED / "photos"), out=str(out),
                         init=str(start), name=f"{name}_fast", threads=2, **options)


def derive_bundled(stages: tuple[dict, ...] = FAST_STAGES, log=print) -> None:
    """The bundled multi-style model: the fast CPU variant (``FAST_CONFIG``) distilled from the
    one-painting files at once (one conditional-norm student, plus an identity "photo" slot for
    strength), and the one-painting fast files extracted from it (same convolutions), each then
    polished by its ``[polish]`` stages. Stages write ``runs/five_styles_fast-s12-<k>.safetensors``
    and ``runs/<name>_fast-polish-<k>.safetensors`` (an existing one is reused: resumable)."""
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
        polish = POLISH_STAGES.get(name, ())
        if polish and _polished(out):
            log(f"{out} is polished, kept")
            continue
        init = RUNS / f"{name}_fast-extracted.safetensors" if polish else out
        init.parent.mkdir(parents=True, exist_ok=True)
        log(f"wrote {extract_styles(fast_style, [name, 'photo'], init, name=f'{name}_fast')}")
        files = [init]
        for k, stage in enumerate(polish, 1):
            start = files[_start(stage, k)]
            files.append(RUNS / f"{name}_fast-polish-{k}.safetensors")
            if not files[-1].exists():
                distill(polish_config(name, stage, start, files[-1]), log=log)
        weight = POLISH_AVERAGE.get(name, 1.0)
        if weight < 1.0:
            log(f"wrote {average_styles(files[_average_with(name)], files[-1], out, weight)}")
        else:
            shutil.copyfile(files[-1], out)


def _sections(path: Path = TEMPLATE) -> dict[str, str]:
    """The template's sections: name -> text, from its ``<!-- section NAME -->`` line to the next."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"<!-- section (\w+) -->", line)
        if m:
            current = sections.setdefault(m[1], [])
        elif current is not None:
            current.append(line)
    return {k: "\n".join(v).rstrip("\n") for k, v in sections.items()}


def _sci(x: float) -> str:
    """1e-3 for 0.001: an lr as papers write it."""
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{x:.0e}")


def write_credits(path: Path = ASSETS / "README.md") -> Path:
    """assets/README.md from the metadata of the bundled style files (credit + training), the
    recipes and the text of ``train/assets_readme.md.in``."""
    from fstvideo import stylemeta
    from fstvideo.styles import load_style
    text = _sections()
    rows, painted, base_only = [], [], []
    for name in BUNDLED:
        f = ASSETS / f"{name}.safetensors"
        if not f.exists():
            rows.append(text["untrained"].format(name=name))
            continue
        st = load_style(f)
        cr = (stylemeta.credits(st) or [{}])[0]
        tr = stylemeta.training(st)
        c = stylemeta.training_config(st)
        (painted if (c.get("net") or {}).get("smooth") else base_only).append(name)
        fl = tr.get("final_losses", {})
        rows.append(text["row"].format(
            name=name, work=cr.get("work", ""), artist=cr.get("artist", ""), year=cr.get("year", ""),
            status=cr.get("status", ""), steps=tr.get("steps"), minutes=tr.get("minutes"),
            image_size=c.get("image_size"), batch_size=c.get("batch_size"), style_size=c.get("style_size"),
            style_balance=c.get("style_balance", 0), weight=(tr.get("style_weights") or [c.get("style_weight")])[0],
            content=fl.get("content", 0), style=fl.get("style", 0), tv=fl.get("tv", 0)))
    base = _base()
    fast = ASSETS / f"{MULTI}_fast.safetensors"
    fast_text = ""
    if fast.exists():
        ft = stylemeta.training(load_style(fast))
        d = {"crop": 128, **ft.get("distill", {})}
        fast_text = "\n\n" + text["fast"].format(
            multi=MULTI, batch_size=d.get("batch_size"), crop=d.get("crop"), iterations=d.get("iterations"),
            gram_weight=d.get("gram_weight"), feature_weight=d.get("feature_weight"), minutes=ft.get("minutes"),
            final_gram_loss=ft.get("final_gram_loss") or 0, final_loss=ft.get("final_loss", 0))
        for name, stages in POLISH_STAGES.items():
            if _polished(ASSETS / f"{name}_fast.safetensors"):
                weight = POLISH_AVERAGE.get(name, 1.0)
                average = (text["average"].format(weight=weight, stage=_average_with(name)) if weight < 1.0
                           else text["last"])
                fast_text += "\n\n" + text["polished"].format(name=name, steps=_stage_words(stages), average=average,
                                                                multi=MULTI)
    page = text["page"].format(
        rows="\n".join(rows), base=base, paint={**base, **PAINT}, lr=_sci(base["lr"]),
        out_lr=_sci(base["lr"] * base["out_lr_scale"]), fast=fast_text,
        base_only="\n" + text["base_only"].format(names=", ".join(f"`{n}`" for n in base_only))
        if base_only and painted else "")
    path.write_text(page + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", default=list(BUNDLED))
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--minutes", type=float, default=0.0, help="training-time cap per style")
    ap.add_argument("--init-dir", default="", help="start each style from DIR/<name>.safetensors")
    ap.add_argument("--paint", action="store_true",
                    help="the [paint] recipe from --init-dir's files (the [base] ones) for --minutes each")
    ap.add_argument("--derive", action="store_true",
                    help=f"distill {MULTI}_fast from the one-painting files, extract and polish <name>_fast")
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
