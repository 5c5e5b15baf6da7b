"""What ``fstvideo convert`` does with an input: open it once, and from its kind (video, GIF,
image, folder, stdin) and length name the output, refuse to overwrite, decide whether compiling
the net pays, show progress, and print one summary line."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import MediaError, OptionsError
from .media import MediaInfo, Source, open_media, open_sink, read_image, sink_kind, write_image
from .pipeline import ConvertOptions, convert
from .stylizer import Stylizer

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
VIDEO_OUT_EXTS = {".mp4", ".mkv", ".webm", ".mov", ".gif"}


# `--fast` compiles the net only for inputs at least this long: compiling costs ~17-27 s on a 2-core
# CPU and saves ~2-3 ms per 640x480 frame end to end (`fstvideo bench speed`: eager-fp32 vs
# compiled-fp32 rows), so shorter clips finish sooner eager.
FAST_COMPILE_MIN_FRAMES = 10000


@dataclass(frozen=True)
class ConvertRequest:
    input: str                   # file, folder, or "-" (an image on stdin)
    output: str | None = None    # None: <stem>_<style>.<ext> beside the input; "-": stdout (images)
    overwrite: bool = False      # replace an existing output (never the input itself)
    smooth: float | None = None  # temporal smoothing strength, None = off
    quiet: bool = False          # no progress bar or summary
    compile: bool | None = False  # torch.compile the net: True for every video and GIF (--compile), None
                                  # where it pays (--fast: see compile_pays), False never. Never for a
                                  # single image: compiling costs seconds and pays only over many frames
    options: ConvertOptions = ConvertOptions()  # audio, batch, frame workers, encoder settings


def compile_pays(request: ConvertRequest, info: MediaInfo | None) -> bool:
    """Whether to compile the net for an input (``info``; None: an image on stdin)."""
    if info is None or info.kind == "image":
        return False
    if request.compile is None:  # unknown length: assume long
        return info.frames is None or info.frames >= FAST_COMPILE_MIN_FRAMES
    return request.compile


def _set_compile(stylizer: Stylizer, request: ConvertRequest, info: MediaInfo | None) -> None:
    want = compile_pays(request, info)
    if stylizer.options.compile != want:
        stylizer.set_options(replace(stylizer.options, compile=want))


def default_output(src: Path, kind: str, style: str) -> Path:
    tag = Path(style).stem if style else "styled"
    if kind == "folder":
        return src.with_name(f"{src.name}_{tag}")
    ext = src.suffix.lower()
    if kind == "video" and ext not in (".mp4", ".mkv", ".webm"):
        ext = ".mp4"  # H.264 MP4 unless the input already is a container we write
    if kind == "image" and ext not in IMAGE_EXTS:
        ext = ".png"
    return src.with_name(f"{src.stem}_{tag}{ext}")


def _check_output(src: Path, dst: Path, overwrite: bool, folder_made_later: bool = False) -> None:
    """Fail before any work: same file as the input, existing output, unusable folder or extension."""
    if dst.resolve() == src.resolve():
        raise OptionsError(f"output {dst} is the input; choose another -o")
    if dst.is_dir():
        raise OptionsError(f"output {dst} is a folder; give a file name")
    if dst.exists() and not overwrite:
        raise OptionsError(f"{dst} exists (use --overwrite to replace it)")
    sink_kind(dst)
    parent = dst.parent
    if not folder_made_later:
        if not parent.is_dir():
            raise MediaError(f"{dst}: output folder {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise MediaError(f"{dst}: output folder {parent} is not writable")


def _smoother(request: ConvertRequest):
    if request.smooth is None:
        return None
    if not 0.0 <= request.smooth <= 1.0:
        raise OptionsError(f"--smooth must be in [0, 1], got {request.smooth}")
    from .temporal import Smoother, SmoothOptions
    return Smoother(SmoothOptions(strength=request.smooth))


def _summary(request: ConvertRequest, dst, frames: int, seconds: float) -> None:
    if not request.quiet:
        fps = frames / seconds if seconds > 0 else 0.0
        print(f"wrote {dst}: {frames} frames in {seconds:.1f} s ({fps:.2f} frames/s)", file=sys.stderr)


def _notes(notes) -> None:
    for line in dict.fromkeys(notes):  # each once, in order
        print(f"note: {line}", file=sys.stderr)


def _convert_image(source: Source, dst: Path, stylizer: Stylizer) -> None:
    (frame, stamp), = list(source)
    with open_sink(dst, source.info) as sink:
        sink.write(stylizer(frame), stamp)
    _notes([*source.notes, *sink.notes])


def _convert_source(source: Source, dst: Path, stylizer: Stylizer, request: ConvertRequest) -> int:
    """Stylize an open source into ``dst`` (the compile rule applied for it); frames written."""
    _set_compile(stylizer, request, source.info)
    if source.info.kind == "image":
        _convert_image(source, dst, stylizer)
        return 1
    from tqdm import tqdm
    bar = tqdm(total=source.info.frames, unit="frame", desc=Path(source.info.path or dst).name,
               disable=request.quiet, leave=False, dynamic_ncols=True, file=sys.stderr)
    try:  # workers=None is resolved by convert for the net as compiled (or not) above
        result = convert(source, dst, stylizer, smoother=_smoother(request), progress=bar.update,
                         options=request.options)
    finally:
        bar.close()
    _notes(result.notes)
    return result.frames


def _convert_folder(src: Path, dst: Path, stylizer: Stylizer, request: ConvertRequest) -> int:
    """Every media file under ``src`` (recursively) into the same tree under ``dst``."""
    files = sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith("."))
    if dst.resolve().is_relative_to(src.resolve()):
        raise OptionsError(f"output folder {dst} is inside the input folder")
    if dst.exists() and not dst.is_dir():
        raise OptionsError(f"output {dst} is a file; a folder input needs an output folder")
    frames = done = 0
    for p in files:
        try:
            source = open_media(p)
        except MediaError:
            continue  # not media: left alone
        with source:
            out = dst / p.relative_to(src)
            if source.info.kind == "video" and out.suffix.lower() not in VIDEO_OUT_EXTS:
                out = out.with_suffix(".mp4")
            _check_output(p, out, request.overwrite, folder_made_later=True)
            try:
                out.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise MediaError(f"{out.parent}: cannot create the output folder ({e.strerror or e})") from None
            frames += _convert_source(source, out, stylizer, request)
        done += 1
    if done == 0:
        raise MediaError(f"{src}: no images, GIFs or videos found")
    return frames


def _convert_stdin(request: ConvertRequest, stylizer: Stylizer) -> None:
    """An image on stdin to stdout (PNG) or to ``request.output``."""
    _set_compile(stylizer, request, None)
    dst = None if request.output in (None, "-") else Path(request.output)
    if dst is not None:  # checked before the work
        if dst.is_dir():
            raise OptionsError(f"output {dst} is a folder; give a file name")
        if dst.exists() and not request.overwrite:
            raise OptionsError(f"{dst} exists (use --overwrite to replace it)")
    frame, alpha = read_image(sys.stdin.buffer)
    out = stylizer(frame)
    if dst is None:
        write_image(sys.stdout.buffer, out, alpha=alpha, format="png")
    else:
        write_image(dst, out, alpha=alpha)


def run_convert(request: ConvertRequest, stylizer: Stylizer) -> None:
    """Convert ``request.input`` (file, folder or stdin) with ``stylizer``; each input is opened
    once, and its kind and length decide the output's name, compiling and frame workers."""
    start = time.perf_counter()
    options = request.options
    if options.batch < 1 or (options.workers is not None and options.workers < 1):
        raise OptionsError(f"--batch and --workers must be at least 1 (got {options.batch}, {options.workers})")
    if request.input == "-":
        _convert_stdin(request, stylizer)
        return
    src = Path(request.input)
    if not src.exists():
        raise MediaError(f"{src}: no such file or folder")
    style = stylizer.style.name
    if src.is_dir():
        if request.output == "-":
            raise OptionsError("only images can be written to stdout")
        dst = Path(request.output) if request.output else default_output(src, "folder", style)
        frames = _convert_folder(src, dst, stylizer, request)
    else:
        with open_media(src) as source:
            kind = source.info.kind
            if request.output == "-":
                if kind != "image":
                    raise OptionsError("only images can be written to stdout")
                _set_compile(stylizer, request, source.info)
                (frame, stamp), = list(source)
                write_image(sys.stdout.buffer, stylizer(frame), alpha=stamp.alpha, format="png")
                return
            dst = Path(request.output) if request.output else default_output(src, kind, style)
            _check_output(src, dst, request.overwrite)
            frames = _convert_source(source, dst, stylizer, request)
    _summary(request, dst, frames, time.perf_counter() - start)
