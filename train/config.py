"""Training options (``TrainConfig``: frozen, stored in every checkpoint and style file) and
painting credits read from a ``SOURCES.md`` beside the painting."""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from fstvideo.errors import FstError
from fstvideo.model import NetConfig
from fstvideo.stylemeta import PHOTO_SLOT

from .vgg import JOHNSON_CONTENT, JOHNSON_STYLE

DEFAULT_LAYERS = tuple((name, 1.0) for name in JOHNSON_STYLE)


class TrainError(FstError):
    """Bad training options or an unusable checkpoint."""


@dataclass(frozen=True)
class TrainConfig:
    styles: tuple[str, ...]                # painting paths; N>1 -> one N-style conditional-norm net
    data: str                              # folder of photos, searched recursively
    out: str = "style.safetensors"         # final style file (fp16)
    name: str = ""                         # display name; default: first painting's file stem
    style_names: tuple[str, ...] = ()      # one name per painting; default: file stems
    net: NetConfig = NetConfig()           # architecture (n_styles is forced to len(styles) [+1])
    photo_slot: bool = False               # one more slot, named "photo", trained with content (+TV) loss
                                           # only: style strength interpolates the norm parameters
                                           # toward it instead of mixing pixels (Dumoulin et al. 2017)
    image_size: int = 192                  # training crop side, px (multiple of 4)
    style_size: int = 320                  # painting resized so its longest side is this, px
    batch_size: int = 4                    # crops per step
    iterations: int = 2000                 # optimiser steps in total
    lr: float = 1e-3                       # Adam learning rate (Johnson et al.)
    out_lr_scale: float = 0.01             # the output layer's lr (net.output_parameters(), objective.adam) relative
                                           # to lr. Johnson's lr 1e-3 was tuned for a net emitting 0-255 images;
                                           # ours emits [0,1], so the same weight step moves pixels 255x further
                                           # (blobs, collapse)
    content_weight: float = 1.0            # weight of the relu2_2 feature MSE
    style_weight: float = 1e5              # weight of the summed Gram MSEs (Grams / (C*H*W))
    style_balance: float = 10.0            # >0: per painting, style weight = this / (style loss of plain
                                           # photos against it, 8 seeded crops): every painting starts
                                           # at the same style/content balance; replaces style_weight
    tv_weight: float = 1.0                 # weight of mean-abs total variation ([0,1] units)
    style_layers: tuple[tuple[str, float], ...] = DEFAULT_LAYERS  # (VGG16 tap, weight) pairs
    content_layer: str = JOHNSON_CONTENT   # VGG16 tap for the content loss
    stability_weight: float = 0.0          # >0: noise-stability term (losses.stability_loss)
    stability_sigma: float = 0.03          # std of the Gaussian input noise, [0,1] units
    seed: int = 0                          # seeds net init, crops, style choice and noise
    checkpoint_every: int = 100            # steps between checkpoints (0: only at the end)
    sample_every: int = 200                # steps between sample PNGs (0: none)
    run_dir: str = ""                      # checkpoints/samples/curves; default runs/<name>
    device: str = "auto"                   # "auto" | "cpu" | "cuda"
    precision: str = "auto"                # "auto" (fp16 on CUDA, bf16 on CPUs with native bf16, else fp32) |
                                           # "fp32" | "bf16" | "fp16"
    vgg_weights: str = ""                  # explicit VGG16 weights file; default: see weights.find_vgg
    threads: int = 0                       # torch CPU threads (0: leave torch's default)
    init: str = ""                         # style file to start from (e.g. an identity-pretrained net)
    max_minutes: float = 0.0               # stop early after this much training time (0: no limit)
    range_weight: float = 100.0            # penalty on output outside [0,1] (the VGG sees it clamped,
                                           # else out-of-range blobs inflate Grams cheaply)
    clamp_vgg_input: bool = False          # True: the VGG sees clamp(y, 0, 1); no gradient
                                           # flows where y leaves [0,1], so saturated blobs grow there
    channels_last: bool = True             # NHWC net and VGG: ~18% faster fp32 steps on a 2-core AVX2 CPU
    blob_weight: float = 0.0               # >0: losses.flat_blob (no colour blobs over flat areas of the photo)
    fill_weight: float = 0.0               # >0: losses.flat_fill (no region painted one flat colour: the
                                           # inside of a droplet; a painting has paint texture everywhere)
    consistency_weight: float = 0.0        # >0: losses.colour_consistency (no flat blob of a colour the rest of
                                           # the frame does not paint for the same photo colour: droplets)
    lattice_weight: float = 0.0            # >0: losses.lattice (no texture repeating every 2/4/8 px: the period
                                           # of the net's two stride-2 stages and VGG's poolings)
    style_warmup: int = 0                  # steps over which the style weight ramps up linearly from 0:
                                           # the net first learns to keep the content (short CPU runs)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> TrainConfig:
        d = dict(d)
        d["net"] = NetConfig.from_dict(d.get("net", {}))
        d["styles"] = tuple(d["styles"])
        d["style_names"] = tuple(d.get("style_names", ()))
        d["style_layers"] = tuple((str(n), float(w)) for n, w in d.get("style_layers", DEFAULT_LAYERS))
        # Defaults for configs without the field (they differ from the dataclass's own):
        d.setdefault("clamp_vgg_input", True)  # the VGG saw its input clamped to [0,1]
        d.setdefault("out_lr_scale", 1.0)      # one lr for every layer
        d.setdefault("style_balance", 0.0)     # the explicit style_weight applies
        d.setdefault("channels_last", False)   # NCHW: the checkpoint's Adam moments have that layout
        return TrainConfig(**{k: v for k, v in d.items() if k in TrainConfig.__dataclass_fields__})

    def resolved(self) -> TrainConfig:
        names = tuple(self.style_names or tuple(Path(s).stem for s in self.styles))
        name = self.name or names[0]
        if self.photo_slot and names[-1:] != (PHOTO_SLOT,):
            names = names + (PHOTO_SLOT,)
        return replace(self, name=name, style_names=names,
                       net=replace(self.net, n_styles=len(self.styles) + int(self.photo_slot)),
                       run_dir=self.run_dir or str(Path("runs") / name))


def painting_credit(path: str | os.PathLike) -> dict:
    """Credit of a painting from a SOURCES.md table next to it, else its file name."""
    p = Path(path)
    src = p.parent / "SOURCES.md"
    if src.is_file():
        for line in src.read_text(encoding="utf-8").splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 4 and cells[0] == p.name:
                artist = re.sub(r"\s*\(d\. \d+\)", "", cells[2])
                status = cells[5] if len(cells) > 5 else ""
                return {"style": p.stem, "work": cells[1], "artist": artist, "year": cells[3],
                        "status": status, "file": p.name}
    return {"style": p.stem, "work": p.name, "file": p.name}
