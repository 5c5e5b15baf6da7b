"""Still images (PNG, JPEG, WebP, BMP, TIFF) with Pillow, from paths, bytes or file objects.

Reading normalises to the frame convention: EXIF orientation applied, grey/palette/CMYK/16-bit
converted to 8-bit RGB, alpha returned apart (None when fully opaque). Only the first frame of
a multi-frame file (animated WebP/PNG, TIFF pages) is read.
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import MediaError
from .frames import check_frame
from .mediabase import MAX_INPUT_PIXELS, MediaInfo, Sink, Source, Stamp, check_input, check_size, media_error

# Pillow plugins tried when identifying a still image. Restricting them keeps permissive
# headerless formats (TGA...) from claiming arbitrary files.
STILL_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF")  # JPEG also opens MPO (camera JPEGs)
# Output extension -> Pillow format; which of them store alpha.
WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                 ".tif": "TIFF", ".tiff": "TIFF"}
ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}

Src = str | os.PathLike | bytes | BinaryIO


def _open(src: Src, name: object) -> Image.Image:
    if isinstance(src, (bytes, bytearray, memoryview)):
        if len(src) == 0:
            raise MediaError(f"{name}: empty input")
        src = io.BytesIO(bytes(src))
    try:
        with warnings.catch_warnings():  # sizes are checked here, against our own limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(src, formats=STILL_FORMATS)
    except UnidentifiedImageError:
        raise MediaError(f"{name}: not an image Pillow can read") from None
    except Image.DecompressionBombError:  # over twice Pillow's limit, which is below ours
        raise MediaError(f"{name}: too large (over {MAX_INPUT_PIXELS // 1_000_000} megapixels)") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise media_error(name, "corrupt or truncated image", e) from None
    try:
        check_size(name, *im.size)  # from the header: a bomb is refused before its pixels are decoded
        im.load()  # decode now: a truncated file fails here, not later in the pipeline
        return im
    except MediaError:
        im.close()
        raise
    except (OSError, ValueError, SyntaxError) as e:
        im.close()
        raise media_error(name, "corrupt or truncated image", e) from None


def _to_8bit(im: Image.Image) -> Image.Image:
    """16/32-bit integer and float grey (``I;16*``, ``I``, ``F``) -> ``L``."""
    a = np.asarray(im)
    if im.mode == "F":
        a = np.clip(a, 0.0, 1.0) * 255.0 if a.max(initial=0.0) <= 1.0 else np.clip(a, 0.0, 255.0)
    else:  # 16-bit samples, also when Pillow widened them to "I"
        a = a.astype(np.float32) / 257.0
    return Image.fromarray(np.rint(a).astype(np.uint8), "L")


def image_to_frame(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """A Pillow image -> (HxWx3 uint8 RGB frame, HxW uint8 alpha or None if opaque)."""
    im = ImageOps.exif_transpose(im)
    if im.mode.startswith("I") or im.mode == "F":
        im = _to_8bit(im)
    has_alpha = "A" in im.getbands() or im.mode in ("RGBa", "La") or "transparency" in im.info
    mode = "RGBA" if has_alpha else "RGB"
    if im.mode != mode:  # CMYK, YCbCr, P, L, 1 -> RGB(A); already RGB: no copy (large photos)
        im = im.convert(mode)
    a = np.asarray(im)
    if not has_alpha:
        return np.ascontiguousarray(a), None
    alpha = a[..., 3]
    return np.ascontiguousarray(a[..., :3]), (None if alpha.min() == 255 else np.ascontiguousarray(alpha))


def read_image(src: Src, name: object = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Path, bytes or binary file object -> (frame, alpha or None). Raises MediaError."""
    name = name or (src if isinstance(src, (str, os.PathLike)) else "<input>")
    if isinstance(src, (str, os.PathLike)):
        src = check_input(src)
    with _open(src, name) as im:
        return image_to_frame(im)


def _encode(dst: BinaryIO | str, frame: np.ndarray, alpha: np.ndarray | None, fmt: str, quality: int) -> None:
    check_frame(frame)
    if alpha is not None and fmt in ALPHA_FORMATS:
        if alpha.shape != frame.shape[:2]:
            raise ValueError(f"alpha {alpha.shape} does not match frame {frame.shape[:2]}")
        im = Image.fromarray(np.dstack([frame, alpha.astype(np.uint8)]), "RGBA")
    else:  # JPEG and BMP have no (portable) alpha: it is dropped
        im = Image.fromarray(frame, "RGB")
    kwargs: dict[str, dict[str, Any]] = {"JPEG": {"quality": quality, "subsampling": 0 if quality >= 90 else 2},
              "WEBP": {"quality": quality, "method": 4}, "TIFF": {"compression": "tiff_deflate"}}
    im.save(dst, format=fmt, **kwargs.get(fmt, {}))


def format_for(path: str | os.PathLike) -> str:
    fmt = WRITE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise MediaError(f"{path}: unknown image extension (use {', '.join(WRITE_FORMATS)})")
    return fmt


def write_image(dst: str | os.PathLike | BinaryIO, frame: np.ndarray, alpha: np.ndarray | None = None,
                format: str | None = None, quality: int = 95) -> None:
    """Write one frame. A path is written atomically (temp file + rename) with the format from
    its extension unless ``format`` ("PNG", "JPEG", "WEBP", ...) is given; a file object (stdout)
    gets ``format`` or PNG. Alpha is kept by PNG, WebP and TIFF. ``quality``: JPEG/WebP 1-100."""
    if isinstance(dst, (str, os.PathLike)):
        with ImageSink(dst, format=format, quality=quality) as sink:
            sink.write(frame, Stamp(alpha=alpha))
        return
    try:
        _encode(dst, frame, alpha, (format or "PNG").upper(), quality)
    except (OSError, KeyError) as e:
        raise media_error("<output>", "cannot write image", e) from None


class ImageSource(Source):
    """One still image as a one-frame source."""

    def __init__(self, src: Src, name: object = None) -> None:
        super().__init__()
        path = Path(src) if isinstance(src, (str, os.PathLike)) else None
        name = name or path or "<input>"
        with _open(check_input(path) if path else src, name) as im:
            if getattr(im, "n_frames", 1) > 1:
                self.notes.append(f"{name}: {im.format} with {im.n_frames} frames, only the first is used")
            fmt = im.format
            self._frame, self._alpha = image_to_frame(im)
        h, w = self._frame.shape[:2]
        self.info = MediaInfo(path=path, kind="image", width=w, height=h, frames=1, codec=fmt, container=fmt,
                              has_alpha=self._alpha is not None)

    def __iter__(self):
        yield self._frame, Stamp(pts=0, alpha=self._alpha)


class ImageSink(Sink):
    """Holds the single frame an image can take; writes it on close()."""

    def __init__(self, path: str | os.PathLike, format: str | None = None, quality: int = 95) -> None:
        self.format = (format or format_for(path)).upper()
        if self.format not in WRITE_FORMATS.values():
            raise MediaError(f"{path}: cannot write image format {format!r}")
        self.quality = quality
        super().__init__(path)
        self._frame: tuple[np.ndarray, np.ndarray | None] | None = None

    def _write(self, frame: np.ndarray, stamp: Stamp) -> None:
        if self._frame is not None:
            raise MediaError(f"{self.path}: an image holds one frame; write video as .mp4/.mkv/.webm or .gif")
        if stamp.alpha is not None and self.format not in ALPHA_FORMATS:
            self.notes.append(f"{self.path}: {self.format} has no alpha channel, transparency dropped")
        self._frame = (frame, stamp.alpha)

    def _finish(self) -> None:
        assert self._frame is not None  # Sink.close() finishes only after a write
        frame, alpha = self._frame
        _encode(self.tmp, frame, alpha, self.format, self.quality)

    def _discard(self) -> None:
        self._frame = None
