"""Media input/output entry points: what a file is, a source of frames, a sink for them.

Kinds are told by content, not extension: GIF and the still formats Pillow reads
(PNG/JPEG/WebP/BMP/TIFF) by their signatures, anything else by FFmpeg. Every failure a user
can cause (missing, empty, not media, truncated, no decodable frames, unwritable folder) is
a one-line :class:`~fstvideo.errors.MediaError` naming the file.

    with open_media("in.mp4") as src, open_sink("out.mp4", src.info) as sink:
        for frame, stamp in src:
            sink.write(stylize(frame), stamp)
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import MediaError
from .gifio import GifSink
from .images import WRITE_FORMATS, ImageSink, ImageSource, read_image, write_image
from .mediabase import REALTIME_PRESET, GifOptions, MediaInfo, Sink, Source, Stamp, VideoOptions, check_input
from .videoio import MUXERS, VideoSink, VideoSource

__all__ = ["GifOptions", "GifSink", "ImageSink", "ImageSource", "MediaInfo", "Sink", "Source", "Stamp",
           "REALTIME_PRESET", "VideoOptions", "VideoSink", "VideoSource", "open_media", "open_sink", "probe_kind",
           "read_image", "sink_kind", "write_image"]


# Signatures of the still formats Pillow reads for us (everything else goes to FFmpeg).
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*")


def _sniff(src: Path | bytes) -> str:
    """"gif", "image" or "video" from the first bytes; "video" means "let FFmpeg decide"."""
    if isinstance(src, bytes):
        head = src[:16]
    else:
        with open(src, "rb") as f:
            head = f.read(16)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    return "video"


def open_media(src: str | os.PathLike | bytes, name: object = None) -> Source:
    """A frame source for a video, GIF or still image file (or its bytes, e.g. stdin).

    Iterating yields ``(frame, Stamp)`` pairs once; ``.info`` is a :class:`MediaInfo`; ``.notes``
    collects one-line remarks after iteration. The first frame is decoded here, so a file with
    nothing decodable fails now. Raises MediaError."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        src = bytes(src)
        if not src:
            raise MediaError(f"{name or '<input>'}: empty input")
    else:
        src = check_input(src)
    kind = _sniff(src)
    if kind == "image":
        return ImageSource(src, name)
    return VideoSource(src, kind, name)


def probe_kind(src: str | os.PathLike | bytes) -> str:
    """"video", "gif" or "image" by content; MediaError unless at least one frame decodes."""
    with open_media(src) as source:
        return source.info.kind


def sink_kind(path: str | os.PathLike) -> str:
    """"video", "gif" or "image" for an output path, from its extension; MediaError if unknown."""
    ext = Path(path).suffix.lower()
    if ext in MUXERS:
        return "video"
    if ext == ".gif":
        return "gif"
    if ext in WRITE_FORMATS:
        return "image"
    known = ", ".join([*MUXERS, ".gif", *WRITE_FORMATS])
    raise MediaError(f"{path}: unknown output extension '{ext}' (use one of {known})")


def open_sink(path: str | os.PathLike, info: MediaInfo | None = None, audio: bool = True,
              video: VideoOptions | None = None, gif: GifOptions | None = None) -> Sink:
    """A sink for ``path`` chosen by extension: video (.mp4 .m4v .mov .mkv .webm), .gif, or an
    image (.png .jpg .jpeg .webp .bmp .tif .tiff). ``info`` is the source's: it gives the time
    base, GIF loop count and the file audio is carried from (``audio=False`` drops it).
    The output folder must exist and be writable, and the path must not be the input."""
    kind = sink_kind(path)
    if info is not None and info.path is not None and Path(path).exists():
        try:
            same = os.path.samefile(path, info.path)
        except OSError:
            same = False
        if same:
            raise MediaError(f"{path}: output would overwrite the input")
    if kind == "video":
        return VideoSink(path, info, audio=audio, options=video)
    sink = GifSink(path, info, options=gif) if kind == "gif" else ImageSink(path)
    if audio and info is not None and info.has_audio:
        sink.notes.append(f"{path}: audio dropped ({kind} files have no sound)")
    return sink
