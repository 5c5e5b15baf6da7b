"""Style model files: safetensors tensors + JSON metadata. Loading never unpickles.

A style file holds the state dict of a :class:`~fstvideo.model.StyleNet` (fp16 or fp32)
and, under the safetensors metadata key ``"fstvideo"``, a JSON object::

    {"format": "fstvideo-style", "format_version": 1,
     "name": "starry_night",                 # the file's display name
     "styles": ["starry_night"],             # one name per conditional-norm slot
     "arch": {...NetConfig...},
     "training": {...config and final losses...},
     "credit": [{"style": ..., "work": ..., "artist": ..., "year": ...}]}

Styles are found by path, or by name among the bundled ``assets/`` and the user folder
(``$FSTVIDEO_STYLES`` or ``~/.local/share/fstvideo/styles``).
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import save_file

from . import stylemeta
from .errors import StyleError
from .model import CondInstanceNorm, NetConfig, StyleNet, build_net
from .stylemeta import PHOTO_SLOT, trained_scale  # noqa: F401 (part of this module's API)

FORMAT = "fstvideo-style"
FORMAT_VERSION = 1
DEFAULT_STYLE = "starry_night"
SUFFIX = ".safetensors"


@dataclass(frozen=True)
class Style:
    name: str                      # display name of the file
    styles: tuple[str, ...]        # one name per conditional-norm slot (1 for a single style)
    config: NetConfig              # architecture to rebuild the net
    state: dict                    # tensor name -> tensor, as stored (fp16 or fp32)
    meta: dict = field(default_factory=dict)  # the whole metadata object (training, credit, ...)
    path: Path | None = None       # where it was loaded from

    def build(self, device: torch.device | str = "cpu") -> StyleNet:
        """A fresh fp32 net on ``device`` with these weights, in eval mode."""
        net = build_net(self.config)
        net.load_state_dict({k: v.float() for k, v in self.state.items()})
        return net.to(device).eval()


def processing_size(style: Style) -> int | None:
    """The longest side (px) a frame should have when the net sees it for strokes at the
    painting's scale: the side the painting had in training (``training.config.style_size``, its
    Gram targets), stored as ``processing_size``; None for files that do not record it."""
    v = style.meta.get("processing_size")
    return int(v) if isinstance(v, (int, float)) and 16 <= v <= 16384 else None


def bundled_dir() -> Path:
    return Path(str(resources.files("fstvideo.assets")))


def user_dir() -> Path:
    env = os.environ.get("FSTVIDEO_STYLES")
    return Path(env) if env else Path.home() / ".local" / "share" / "fstvideo" / "styles"


def list_styles() -> dict[str, Path]:
    """Name -> path of every style file in the bundled and user folders (user files win)."""
    found: dict[str, Path] = {}
    for folder in (bundled_dir(), user_dir()):
        if folder.is_dir():
            for p in sorted(folder.glob("*" + SUFFIX)):
                if p.is_file():  # a FIFO or device named *.safetensors would block the reader
                    found[p.stem] = p
    return found


def resolve(name_or_path: str | os.PathLike) -> Path:
    """A style name or a path to a style file -> an existing path, else StyleError."""
    s = str(name_or_path)
    p = Path(s).expanduser()
    if p.suffix == SUFFIX or os.sep in s or p.exists():
        if not p.is_file():
            raise StyleError(f"style file {'is not a regular file' if p.exists() else 'not found'}: {s}")
        return p
    known = list_styles()
    if s in known:
        return known[s]
    names = ", ".join(known) or "none installed"
    raise StyleError(f"unknown style '{s}' (known: {names})")


def resolve_fast(name_or_path: str | os.PathLike) -> Path:
    """The fast CPU variant of a named style (``<name>_fast``); a path is returned as given."""
    s = str(name_or_path)
    if s.endswith(SUFFIX) or os.sep in s or s.endswith("_fast"):
        return resolve(s)
    known = list_styles()
    if s + "_fast" in known:
        return known[s + "_fast"]
    resolve(s)  # unknown names fail with the list of known ones
    raise StyleError(f"style '{s}' has no fast variant (fast styles: "
                     f"{', '.join(n for n in known if n.endswith('_fast')) or 'none'})")


def load_style(name_or_path: str | os.PathLike) -> Style:
    """Load and validate a style file. Raises StyleError with one readable line on any problem.

    The header (metadata, tensor names, shapes, dtypes) is checked against the architecture it
    declares before any tensor is read (:mod:`fstvideo.stylemeta`): a tampered file costs
    milliseconds and kilobytes, however large a net it claims."""
    from safetensors import safe_open

    path = resolve(name_or_path)
    try:
        stylemeta.header_size(path)
        f = safe_open(str(path), framework="pt")
    except ValueError as e:
        raise StyleError(f"{path}: not a valid style file ({e})") from None
    except Exception as e:  # SafetensorError, OSError, ...: whatever the reader says about the bytes
        raise StyleError(f"{path}: not a valid style file ({str(e).splitlines()[0][:120]})") from None
    with f:
        try:
            meta = json.loads((f.metadata() or {})["fstvideo"])
            name, styles = stylemeta.parse_meta(meta)
            if meta.get("format") != FORMAT:
                raise ValueError("format")
            if stylemeta.format_version(meta) > FORMAT_VERSION:
                raise StyleError(f"{path}: style format version {meta['format_version']} is newer than this "
                                 f"fstvideo understands ({FORMAT_VERSION}); upgrade fstvideo")
            config = stylemeta.net_config(meta.get("arch"))
            name = name or path.stem
            styles = styles or (name,)
        except StyleError:
            raise
        except (KeyError, ValueError, TypeError, RecursionError) as e:
            raise StyleError(f"{path}: missing or invalid fstvideo metadata ({e})") from None
        if len(styles) != config.n_styles:
            raise StyleError(f"{path}: {len(styles)} style names for {config.n_styles} style slots")
        try:
            expected = stylemeta.expected_shapes(config)
        except Exception as e:  # absurd hyper-parameters in tampered metadata
            raise StyleError(f"{path}: invalid architecture in metadata ({str(e)[:120]})") from None
        try:
            slices = {k: f.get_slice(k) for k in f.keys()}
            got = {k: tuple(v.get_shape()) for k, v in slices.items()}
            detail = stylemeta.tensor_mismatch(expected, got, {k: v.get_dtype() for k, v in slices.items()})
            if detail:
                raise StyleError(f"{path}: tensors do not match the architecture in its metadata ({detail})")
            state = {k: f.get_tensor(k) for k in f.keys()}
        except StyleError:
            raise
        except Exception as e:
            raise StyleError(f"{path}: not a valid style file ({str(e).splitlines()[0][:120]})") from None
    for k, v in state.items():
        if not v.is_floating_point() or not bool(torch.isfinite(v).all()):
            raise StyleError(f"{path}: tensor {k} is not finite floating point")
    return Style(name=name, styles=styles, config=config, state=state, meta=meta, path=path)


def save_style(path: str | os.PathLike, net: StyleNet, name: str, styles: list[str] | None = None,
               training: dict | None = None, credit: list[dict] | None = None,
               dtype: torch.dtype = torch.float16, processing: int | None = None) -> Path:
    """Write ``net`` as a style file atomically (temp file + rename). Returns the path."""
    path = Path(path)
    styles = list(styles or [name])
    if len(styles) != net.config.n_styles:
        raise ValueError(f"{len(styles)} style names for a net with {net.config.n_styles} styles")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "styles": styles,
            "arch": net.config.to_dict(), "training": training or {}, "credit": credit or []}
    if processing:
        meta["processing_size"] = int(processing)
    state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in net.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        save_file(state, tmp, metadata={"fstvideo": json.dumps(meta)})
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; a style file is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def extract_styles(style: Style, slots: list[str], path: str | os.PathLike, name: str | None = None) -> Path:
    """Write a smaller style file holding only ``slots`` of a multi-style ``style`` (same
    convolutions, the chosen conditional-norm rows). E.g. one painting plus the "photo" slot."""
    unknown = [s for s in slots if s not in style.styles]
    if unknown or not slots:
        raise StyleError(f"unknown slot(s) {unknown} (known: {', '.join(style.styles)})")
    rows = torch.tensor([style.styles.index(s) for s in slots])
    config = replace(style.config, n_styles=len(slots))
    net = build_net(config)
    # Conditional-norm parameters are n_styles x C: keep the chosen rows.
    norms = {f"{n}.{p}" for n, m in net.named_modules() if isinstance(m, CondInstanceNorm) for p in ("weight", "bias")}
    net.load_state_dict({k: v[rows] if k in norms else v for k, v in style.state.items()})
    slot_credit = [c for c in stylemeta.credits(style) if c.get("style") in slots]
    training = dict(stylemeta.training(style), extracted_from=str(style.path or style.name))
    return save_style(path, net, name or slots[0], styles=list(slots), training=training,
                      credit=slot_credit, dtype=next(iter(style.state.values())).dtype)
