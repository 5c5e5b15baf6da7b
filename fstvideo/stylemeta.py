"""A style file's metadata: the checks on its header, and the accessors readers use.

The checks run before any tensor is read or any net is built, so a tampered or corrupt file is
refused in a few milliseconds and megabytes whatever it claims. Each raises ``ValueError`` with
a short reason; :func:`fstvideo.styles.load_style` turns it into one StyleError line naming the file.

The accessors (:func:`training_config`, :func:`trained_scale`, :func:`painting_of`, ...) are the
only readers of the ``training`` and ``credit`` objects a trainer recorded, so an absent field
has its default in one place.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.overrides import TorchFunctionMode

from .errors import OptionsError, StyleError
from .model import NetConfig, build_net

if TYPE_CHECKING:
    from .styles import Style

PHOTO_SLOT = "photo"  # the content-only slot (trained on the photo itself): the 0-strength end of a blend

# Our headers are ~8 KB (JSON metadata and the tensor table); safetensors itself accepts up to
# 100 MB, which would be parsed (and held) before anything else could be checked.
MAX_HEADER_BYTES = 1 << 20
# Architecture limits. The bundled nets have at most 128 channels, 5 blocks and 6 style slots;
# these leave room for much larger trained nets while a header cannot ask for gigabytes.
MAX_WIDTH = 1024             # channels of any stage
MAX_BLOCKS = 64              # residual blocks
MAX_KERNEL = 15              # px; kernels are odd (symmetric padding keeps the size)
MAX_SPACE = 8                # side of the space-to-depth blocks
MAX_STYLES = 256             # conditional-norm slots
MAX_PARAMETERS = 50_000_000  # weights in all: 200 MB as fp32 (Johnson's net: 1.7M)
FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}  # safetensors dtype names a style may store


def header_size(path: Path) -> int:
    """Bytes of the safetensors header (JSON), from the 8-byte length prefix."""
    with open(path, "rb") as f:
        head = f.read(8)
    if len(head) < 8:
        raise ValueError("shorter than a safetensors header")
    n = int.from_bytes(head, "little")
    if n > MAX_HEADER_BYTES:
        raise ValueError(f"header of {n} bytes (a style file's is a few KB)")
    return n


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def net_config(arch) -> NetConfig:
    """The architecture object of the metadata as a NetConfig: JSON types and limits checked."""
    if not isinstance(arch, dict):
        raise ValueError("'arch' is not an object")
    for name, f in NetConfig.__dataclass_fields__.items():
        if name not in arch:
            continue
        v, default = arch[name], f.default
        if name == "widths":
            ok = isinstance(v, list) and len(v) == 3 and all(_is_int(w) and 1 <= w <= MAX_WIDTH for w in v)
        elif isinstance(default, bool):
            ok = isinstance(v, bool)
        elif isinstance(default, int):
            ok = _is_int(v) and 0 <= v <= MAX_WIDTH
        else:
            ok = True  # a field of another type is checked by NetConfig's users
        if not ok:
            raise ValueError(f"arch.{name} = {json.dumps(v)[:40]} is not a valid value")
    config = NetConfig.from_dict(arch)
    if config.blocks > MAX_BLOCKS or not 1 <= config.n_styles <= MAX_STYLES:
        raise ValueError(f"arch: {config.blocks} blocks, {config.n_styles} styles (at most {MAX_BLOCKS}, "
                         f"{MAX_STYLES})")
    if not 1 <= config.space <= MAX_SPACE:
        raise ValueError(f"arch.space = {config.space} (1-{MAX_SPACE})")
    for name in ("outer_kernel", "stem_kernel"):
        k = getattr(config, name)
        if not (k == 0 and name == "stem_kernel") and not (k % 2 == 1 and k <= MAX_KERNEL):
            raise ValueError(f"arch.{name} = {k} (odd, at most {MAX_KERNEL})")
    return config


class _MetaParameters(TorchFunctionMode):
    """Parameters created inside it live on the meta device: shapes without memory. Only the
    constructors modules use for weights are redirected (``torch.device("meta")`` would move
    every tensor, and the net's one-hot buffer on meta pulls in torch's symbolic shape machinery,
    ~75 MB of imports)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func in (torch.empty, torch.ones, torch.zeros):
            kwargs["device"] = "meta"
        return func(*args, **kwargs)


def expected_shapes(config: NetConfig) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of the net ``config`` describes, its weights on the meta device."""
    with _MetaParameters():
        net = build_net(config)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    count = sum(math.prod(s) for s in shapes.values())
    if count > MAX_PARAMETERS:
        raise ValueError(f"arch has {count / 1e6:.0f}M weights (at most {MAX_PARAMETERS // 1_000_000}M)")
    return shapes


def parse_meta(meta) -> tuple[str | None, tuple[str, ...] | None]:
    """Types of the fields readers use: (name or None, style names or None). ``format`` and
    ``format_version`` are checked by the caller (it words the newer-version message)."""
    if not isinstance(meta, dict):
        raise ValueError("not a JSON object")
    name, styles = meta.get("name"), meta.get("styles")
    if name is not None and not isinstance(name, str):
        raise ValueError("'name' is not a string")
    if styles is not None and not (isinstance(styles, list) and styles and all(isinstance(s, str) for s in styles)):
        raise ValueError("'styles' is not a list of names")
    credit = meta.get("credit", [])
    if not (isinstance(credit, list) and all(isinstance(c, dict) for c in credit)):
        raise ValueError("'credit' is not a list of objects")
    training = meta.get("training", {})
    if not isinstance(training, dict):
        raise ValueError("'training' is not an object")
    distill = training.get("distill", {})
    if not isinstance(distill, dict):
        raise ValueError("'training.distill' is not an object")
    scale = distill.get("student_scale", 1.0)
    if not (isinstance(scale, (int, float)) and not isinstance(scale, bool) and 0.05 <= scale <= 1.0):
        raise ValueError(f"'training.distill.student_scale' = {json.dumps(scale)[:40]} (a number in [0.05, 1])")
    return name, (tuple(styles) if styles is not None else None)


def format_version(meta: dict) -> int:
    v = meta.get("format_version", -1)
    if not _is_int(v):
        raise ValueError(f"'format_version' = {json.dumps(v)[:40]} is not an integer")
    return v


def tensor_mismatch(expected: dict[str, tuple[int, ...]], got: dict[str, tuple[int, ...]],
                    dtypes: dict[str, str]) -> str | None:
    """Why the stored tensors (shapes and dtypes from the header) do not fit, or None."""
    if got != expected:
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
        return (f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}" if extra
                else f"shape of {wrong[0]} is {got[wrong[0]]}, expected {expected[wrong[0]]}")
    bad = sorted(k for k, d in dtypes.items() if d not in FLOAT_DTYPES)
    return f"tensor {bad[0]} is {dtypes[bad[0]]}, not floating point" if bad else None


# -- accessors -------------------------------------------------------------------------------
def training(style: Style) -> dict[str, Any]:
    """The file's ``training`` object ({} when absent; its type is checked on load)."""
    value = style.meta.get("training")
    return value if isinstance(value, dict) else {}


def training_config(style: Style) -> dict[str, Any]:
    """``training.config``: the trainer's options (loss weights and layers, paintings, sizes); {}
    when absent. A distilled file records its teacher's, so benches score both alike."""
    value = training(style).get("config")
    return value if isinstance(value, dict) else {}


def credits(style: Style) -> list[dict[str, Any]]:
    """The ``credit`` objects (work, artist, year, style, file), one per painting; [] when absent."""
    return [c for c in style.meta.get("credit") or [] if isinstance(c, dict)]


def trained_scale(style: Style) -> float:
    """The input scale a distilled file was trained for (``training.distill.student_scale``: 0.5
    for a student trained at half size with guided upsampling back), else 1."""
    distilled = training(style).get("distill") or {}
    return float(distilled.get("student_scale", 1.0))


def painting_of(style: Style, slot: str | None = None) -> str:
    """The training painting of ``slot``: the path whose file stem is the slot's name, else the
    first existing one (single-style files). StyleError if none exists on this machine."""
    cfg = training_config(style)
    slot = slot or style.styles[0]
    listed = list(cfg.get("styles") or [])
    names = list(cfg.get("style_names") or [])
    paths = [p for p in listed if Path(p).is_file()]
    named = [p for p in paths if Path(p).stem == slot]
    if not named and slot in names and names.index(slot) < len(listed) and Path(listed[names.index(slot)]).is_file():
        named = [listed[names.index(slot)]]
    if named or paths:
        return (named or paths)[0]
    raise StyleError(f"style '{style.name}' does not name an existing painting; pass --painting PATH")


def slot_style_weight(style: Style, slot: str) -> float:
    """The style weight that slot was trained with: per-painting ``style_weights`` (style_balance
    runs, indexed like the training config's style_names) else the config's ``style_weight``."""
    cfg = training_config(style)
    names, weights = list(cfg.get("style_names") or []), training(style).get("style_weights")
    if weights and slot in names and names.index(slot) < len(weights):
        return float(weights[names.index(slot)])
    return float(cfg.get("style_weight", 5e3))


def find_painting(style: Style, explicit: str | None = None) -> Path | None:
    """The painting a style was trained on: ``explicit``, else the path in its training config,
    else its credited file name beside the style file, in the working folder, or in a
    ``shared/styles`` folder above either; None if not found."""
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise OptionsError(f"painting not found: {p}")
        return p
    names = [Path(s) for s in training_config(style).get("styles") or []][:1]
    names += [Path(c["file"]) for c in credits(style)[:1] if c.get("file")]
    roots = [Path(style.path).resolve().parent] if style.path else []
    roots.append(Path.cwd())
    for name in names:
        if name.is_absolute():
            if name.is_file():
                return name
            name = Path(name.name)
        for root in roots:
            for base in [root, *list(root.parents)[:3]]:
                for cand in (base / name, base / "shared" / "styles" / name.name):
                    if cand.is_file():
                        return cand
    return None
