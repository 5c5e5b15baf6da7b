"""What ``fstvideo convert`` does with an input: decide its kind (video, GIF, image, folder,
stdin), name the output, refuse to overwrite, show progress, and print one summary line."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import MediaError, OptionsError
from .media import open_media, open_sink, probe_kind, read_image, sink_kind, write_image
from .mediabase import VideoOptions
from .pipeline import ConvertOptions, convert

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}
VIDEO_OUT_EXTS = {".mp4", ".mkv", ".webm", ".mov", ".gif"}


@dataclass(frozen=True)
class ConvertRequest:
    input: str                   # file, folder, or "-" (an image on stdin)
    output: str | None = None    # None: <stem>_<style>.<ext> beside the input; "-": stdout (images)
    overwrite: bool = False      # replace an existing output (never the input itself)
    audio: bool = True           # keep audio streams
    smooth: float | None = None  # temporal smoothing strength, None = off
    batch: int = 1               # frames per forward pass
    workers: int = 1             # frames stylized concurrently (pipeline.ConvertOptions.workers)
    quiet: bool = False          # no progress bar or summary
    video: VideoOptions = VideoOptions()  # encoder settings of video outputs (codec, CRF, preset)


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
    from .temporal import SmoothOptions, Smoother
    return Smoother(SmoothOptions(strength=request.smooth))


def _summary(request: ConvertRequest, dst, frames: int, seconds: float) -> None:
    if not request.quiet:
        fps = frames / seconds if seconds > 0 else 0.0
        print(f"wrote {dst}: {frames} frames in {seconds:.1f} s ({fps:.2f} frames/s)", file=sys.stderr)


def _notes(notes) -> None:
    for line in dict.fromkeys(notes):  # each once, in order
        print(f"note: {line}", file=sys.stderr)


def _convert_image(src: Path, dst: Path, stylizer) -> None:
    with open_media(src) as source:
        (frame, stamp), = list(source)
        with open_sink(dst, source.info) as sink:
            sink.write(stylizer(frame), stamp)
        _notes([*source.notes, *sink.notes])


def _convert_stream(src: Path, dst: Path, stylizer, request: ConvertRequest, total: int | None) -> int:
    from tqdm import tqdm
    bar = tqdm(total=total, unit="frame", desc=src.name, disable=request.quiet, leave=False,
               dynamic_ncols=True, file=sys.stderr)
    try:
        result = convert(src, dst, stylizer, smoother=_smoother(request), progress=bar.update,
                         options=ConvertOptions(audio=request.audio, batch=request.batch, video=request.video,
                                                workers=request.workers))
    finally:
        bar.close()
    _notes(result.notes)
    return result.frames


def _convert_file(src: Path, dst: Path, stylizer, request: ConvertRequest) -> int:
    kind = probe_kind(src)
    if kind == "image":
        _convert_image(src, dst, stylizer)
        return 1
    with open_media(src) as source:
        total = source.info.frames
    return _convert_stream(src, dst, stylizer, request, total)


def _convert_folder(src: Path, dst: Path, stylizer, request: ConvertRequest) -> int:
    """Every media file under ``src`` (recursively) into the same tree under ``dst``."""
    files = sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith("."))
    if dst.resolve().is_relative_to(src.resolve()):
        raise OptionsError(f"output folder {dst} is inside the input folder")
    if dst.exists() and not dst.is_dir():
        raise OptionsError(f"output {dst} is a file; a folder input needs an output folder")
    frames = done = 0
    for p in files:
        try:
            kind = probe_kind(p)
        except MediaError:
            continue  # not media: left alone
        out = dst / p.relative_to(src)
        out = out.with_suffix(".mp4") if kind == "video" and out.suffix.lower() not in VIDEO_OUT_EXTS else out
        _check_output(p, out, request.overwrite, folder_made_later=True)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise MediaError(f"{out.parent}: cannot create the output folder ({e.strerror or e})") from None
        frames += _convert_file(p, out, stylizer, request)
        done += 1
    if done == 0:
        raise MediaError(f"{src}: no images, GIFs or videos found")
    return frames


def _no_compile_for_one_frame(stylizer) -> None:
    """Compiling costs seconds up front and pays only over many frames: not for one image."""
    if stylizer.options.compile:
        stylizer.set_options(replace(stylizer.options, compile=False))


def run_convert(request: ConvertRequest, stylizer) -> None:
    start = time.perf_counter()
    if request.batch < 1 or request.workers < 1:
        raise OptionsError(f"--batch and --workers must be at least 1 (got {request.batch}, {request.workers})")
    if request.input == "-":
        _no_compile_for_one_frame(stylizer)
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
        return
    src = Path(request.input)
    if not src.exists():
        raise MediaError(f"{src}: no such file or folder")
    kind = "folder" if src.is_dir() else probe_kind(src)
    if kind == "image":
        _no_compile_for_one_frame(stylizer)
    style = stylizer.style.name
    if request.output == "-":
        if kind != "image":
            raise OptionsError("only images can be written to stdout")
        with open_media(src) as source:
            (frame, stamp), = list(source)
        write_image(sys.stdout.buffer, stylizer(frame), alpha=stamp.alpha, format="png")
        return
    dst = Path(request.output) if request.output else default_output(src, kind, style)
    if kind == "folder":
        frames = _convert_folder(src, dst, stylizer, request)
    else:
        _check_output(src, dst, request.overwrite)
        frames = _convert_file(src, dst, stylizer, request)
    _summary(request, dst, frames, time.perf_counter() - start)
