"""Video and GIF decoding, video encoding, with PyAV (FFmpeg).

Decoding keeps each frame's original ``pts`` and ``time_base`` (variable frame rate survives
exactly) and turns frames upright from the display-matrix side data. Encoding writes H.264
(MP4/MOV/MKV) or VP9 (WebM) yuv420p with the input's time base and pts, frame for frame: no
frame is dropped or duplicated, and audio is carried by :class:`~fstvideo.audio.AudioCarrier`.
"""
from __future__ import annotations

import io
import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from .audio import AudioCarrier
from .errors import MediaError
from .mediabase import MediaInfo, Sink, Source, Stamp, VideoOptions, check_size, describe, media_error, rotate_upright

# Output extension -> FFmpeg muxer.
MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
DEFAULT_CRF = {"libx264": 18, "libx265": 20, "libvpx-vp9": 31}
# x264 preset -> libvpx-vp9 cpu-used (0 slowest/best .. 8 fastest); 6+ needs deadline=realtime.
VP9_CPU_USED = {"ultrafast": 8, "superfast": 7, "veryfast": 6, "faster": 5, "fast": 4, "medium": 3,
                "slow": 2, "slower": 1, "veryslow": 0, "placebo": 0}
BT709 = 1      # AVCOL_PRI_BT709 == AVCOL_TRC_BT709
SMPTE170M = 6  # AVCOL_SPC_SMPTE170M: the BT.601 matrix
MPEG_RANGE = 1  # AVCOL_RANGE_MPEG: limited 16-235


def gif_loop(src: Path | bytes) -> int | None:
    """NETSCAPE loop count of a GIF (0 = forever), None without the block.

    FFmpeg's gif demuxer parses this block but neither it nor PyAV exposes the value, so Pillow
    reads it from the header (no pixels are decoded). Frames, delays and alpha still come from
    FFmpeg, which composites frames (disposal methods) and applies browsers' rule that delays
    under 2 cs play as 10 cs."""
    try:
        with Image.open(io.BytesIO(src) if isinstance(src, bytes) else src) as im:
            loop = im.info.get("loop")
    except (OSError, ValueError, SyntaxError):
        return None
    return int(loop) if loop is not None else None


class VideoSource(Source):
    """Frames of the first video stream (cover art skipped) of anything FFmpeg demuxes."""

    def __init__(self, src: str | os.PathLike | bytes, kind: str = "video", name: object = None) -> None:
        super().__init__()
        path = Path(src) if isinstance(src, (str, os.PathLike)) else None
        self.name = name or path or "<input>"
        try:
            self._c = av.open(io.BytesIO(src) if isinstance(src, bytes) else str(path), "r")
        except (av.FFmpegError, OSError, ValueError) as e:
            raise media_error(self.name, "not a video or GIF FFmpeg can read", e) from None
        try:
            self._setup(path, src, kind)
        except BaseException:
            self._c.close()
            raise

    def _setup(self, path: Path | None, src, kind: str) -> None:
        streams = [s for s in self._c.streams.video if av.stream.Disposition.attached_pic not in s.disposition]
        if not streams:
            raise MediaError(f"{self.name}: no video stream")
        s = self._s = streams[0]
        cc = s.codec_context
        check_size(self.name, cc.width or 1, cc.height or 1)  # declared size: refused before decoding
        s.thread_type = "AUTO"  # frame + slice threads in the decoder
        self._error: Exception | None = None
        self._decoded = 0
        self._frames = self._decode()
        self._first = next(self._frames, None)
        if self._first is None:
            why = f" ({describe(self._error)})" if self._error else ""
            raise MediaError(f"{self.name}: no decodable frames{why}")
        rot = self._first.rotation  # degrees counter-clockwise, from the display matrix
        self._turns = round(rot / 90) % 4
        if rot % 90:
            self.notes.append(f"{self.name}: rotation {rot} degrees rounded to {self._turns * 90}")
        fmt = self._first.format
        self._alpha = fmt.has_palette or any(c.is_alpha for c in fmt.components)
        w, h = self._first.width, self._first.height
        check_size(self.name, w, h)
        if self._turns % 2:
            w, h = h, w
        tb = s.time_base
        duration = (float(s.duration * tb) if s.duration and tb
                    else self._c.duration / av.time_base if self._c.duration else None)
        rate = s.average_rate or s.guessed_rate
        fps = float(rate) if rate else None
        frames = s.frames or (round(duration * fps) if duration and fps else None)
        self.info = MediaInfo(
            path=path, kind=kind, width=w, height=h, frames=frames, fps=fps, duration=duration,
            has_audio=kind == "video" and len(self._c.streams.audio) > 0,
            loop=gif_loop(path or src) if kind == "gif" else None, rotation=self._turns * 90,
            time_base=tb, codec=s.codec_context.name, container=self._c.format.name, has_alpha=self._alpha)

    def _decode(self):
        """Decoded frames; a corrupt packet is skipped, a demuxing error ends the stream quietly
        (what decoded so far is kept; the caller reports it)."""
        s = self._s
        try:
            for packet in self._c.demux(s):
                try:
                    frames = packet.decode()  # the final empty packet flushes the decoder
                except av.error.InvalidDataError as e:
                    self._error = e
                    continue
                for f in frames:
                    self._decoded += 1
                    yield f
        except av.FFmpegError as e:
            self._error = e
            try:
                yield from s.decode(None)  # frames still inside the (threaded) decoder
            except av.FFmpegError:
                pass

    def _convert(self, f: av.VideoFrame) -> tuple[np.ndarray, Stamp]:
        alpha = None
        if self._alpha:
            a = f.to_ndarray(format="rgba", src_color_range=f.color_range)
            rgb, alpha = a[..., :3], a[..., 3]
            alpha = None if alpha.min() == 255 else rotate_upright(alpha, self._turns)
        else:
            rgb = f.to_ndarray(format="rgb24", src_color_range=f.color_range)
        rgb = rotate_upright(rgb, self._turns)
        if not rgb.flags.c_contiguous:  # odd widths leave row padding; rot90 already copied
            rgb = np.ascontiguousarray(rgb)
        if alpha is not None and not alpha.flags.c_contiguous:
            alpha = np.ascontiguousarray(alpha)
        tb = f.time_base or self._s.time_base
        pts = f.pts if f.pts is not None else f.dts
        duration = float(f.duration * tb) if f.duration and tb else None
        return rgb, Stamp(pts=pts, time_base=tb, duration=duration, alpha=alpha)

    def __iter__(self):
        first, self._first = self._first, None
        if first is None:
            raise RuntimeError("a source can be iterated only once")
        yield self._convert(first)
        for f in self._frames:
            yield self._convert(f)
        if self._error is not None:
            self.notes.append(f"{self.name}: decoding stopped or skipped data after "
                              f"{self._decoded} frames ({describe(self._error)})")
        elif self._s.frames and self._decoded < self._s.frames:
            self.notes.append(f"{self.name}: only {self._decoded} of {self._s.frames} frames decoded "
                              f"(truncated file?)")

    def close(self) -> None:
        self._c.close()


def _failed(e: Exception) -> str:
    """What went wrong, for a one-line error: writing (disk full, size limit) or encoding."""
    return "cannot write" if isinstance(e, OSError) else "video encoding failed"


class VideoSink(Sink):
    """H.264 or VP9 yuv420p video; pts, time base and frame count kept; audio carried from
    ``info.path`` unless ``audio=False``. Odd widths/heights are padded by one pixel (the
    last row/column repeated) because yuv420p needs even sizes; nothing is cropped."""

    def __init__(self, path: str | os.PathLike, info: MediaInfo | None = None, audio: bool = True,
                 options: VideoOptions | None = None) -> None:
        path = Path(path)
        self._fmt = MUXERS.get(path.suffix.lower())
        if self._fmt is None:
            raise MediaError(f"{path}: unknown video extension (use {', '.join(MUXERS)})")
        opts = options or VideoOptions()
        self._codec = opts.codec or ("libvpx-vp9" if self._fmt == "webm" else "libx264")
        try:
            av.codec.Codec(self._codec, "w")
        except (av.FFmpegError, ValueError):
            raise MediaError(f"{path}: video encoder {self._codec!r} is not available in this FFmpeg") from None
        self._opts = opts
        self._info = info
        self._want_audio = audio
        self._out: av.container.OutputContainer | None = None
        self._stream: av.video.VideoStream | None = None
        self._audio: AudioCarrier | None = None
        self._last: int | None = None  # pts of the previous frame, in self._tb
        self._durations: dict[int, int] = {}  # pts -> duration of frames inside the encoder (ticks)
        super().__init__(path)
        try:
            # MP4 shifts B-frame/priming delays with an edit list; Matroska would instead shift
            # every timestamp to make them non-negative, so that is switched off to keep pts.
            mux_opts = ({"movflags": "+frag_keyframe+empty_moov+default_base_moof" if opts.fragmented
                         else "+faststart"} if self._fmt in ("mp4", "mov") else {"avoid_negative_ts": "disabled"})
            self._out = av.open(self.tmp, "w", format=self._fmt, options=mux_opts)
        except (av.FFmpegError, OSError) as e:
            self.abort()
            raise media_error(path, "cannot create the video file", e) from None

    def _encoder_options(self) -> dict[str, str]:
        crf = self._opts.crf if self._opts.crf is not None else DEFAULT_CRF.get(self._codec)
        if self._codec in ("libx264", "libx265"):
            return {"crf": str(crf), "preset": self._opts.preset, "bf": str(self._opts.bframes)}
        if self._codec == "libvpx-vp9":
            cpu = VP9_CPU_USED.get(self._opts.preset, 4)
            return {"crf": str(crf), "b": "0", "cpu-used": str(cpu), "row-mt": "1",
                    "deadline": "realtime" if cpu >= 6 else "good"}
        return {}

    def _start(self, frame: np.ndarray, stamp: Stamp) -> None:
        assert self._out is not None  # opened in __init__
        h, w = frame.shape[:2]
        self._size = (w + w % 2, h + h % 2)
        if self._size != (w, h):
            self.notes.append(f"{self.path}: {w}x{h} padded to {self._size[0]}x{self._size[1]} "
                              f"(yuv420p needs even sizes)")
        info = self._info
        fps = Fraction(info.fps if info and info.fps else 25).limit_denominator(1001)
        # Keep the input's time base so pts are written exactly as read; without one, 1/fps ticks.
        self._tb = stamp.time_base or (info.time_base if info else None) or 1 / fps
        self._step = max(1, round(1 / (fps * self._tb)))  # pts ticks per frame when a stamp has none
        options = self._encoder_options()
        if self._opts.fragmented:  # a keyframe, so a fragment, about every second
            options["g"] = str(max(1, round(float(fps))))
        s = self._stream = self._out.add_stream(self._codec, rate=fps, options=options)
        s.width, s.height = self._size
        s.pix_fmt = "yuv420p"
        s.time_base = s.codec_context.time_base = self._tb
        cc = s.codec_context
        cc.color_primaries = cc.color_trc = BT709  # sRGB frames: BT.709 primaries and transfer
        cc.colorspace, cc.color_range = SMPTE170M, MPEG_RANGE  # the matrix and range cv2 converts with
        if self._want_audio and info and info.has_audio:
            if info.path is None:
                self.notes.append(f"{self.path}: audio not carried (the input was not a file)")
            else:
                self._audio = AudioCarrier(info.path, self._out)
                self.notes += self._audio.notes

    def _pts(self, stamp: Stamp) -> int:
        if stamp.pts is not None and stamp.time_base is not None:
            pts = stamp.pts if stamp.time_base == self._tb else round(stamp.pts * stamp.time_base / self._tb)
        else:
            pts = 0 if self._last is None else self._last + self._step
        if self._last is not None and pts <= self._last:  # the encoder needs strictly rising pts
            if not any("timestamps" in n for n in self.notes):
                self.notes.append(f"{self.path}: non-increasing timestamps moved forward")
            pts = self._last + 1
        self._last = pts
        return pts

    def _write(self, frame: np.ndarray, stamp: Stamp) -> None:
        try:
            if self._stream is None:
                self._start(frame, stamp)
            h, w = frame.shape[:2]
            if w % 2 or h % 2:
                frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            if (frame.shape[1], frame.shape[0]) != self._size:
                if not any("scaled" in n for n in self.notes):
                    self.notes.append(f"{self.path}: frames of other sizes scaled to {self._size[0]}x{self._size[1]}")
                frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
            # OpenCV's RGB->I420 (BT.601 matrix, limited range, 2x2 chroma average) is ~4x faster
            # than swscale here; the stream is tagged so players decode it with the same matrix.
            vf = av.VideoFrame.from_ndarray(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
            vf.colorspace, vf.color_range = SMPTE170M, MPEG_RANGE
            vf.pts = self._pts(stamp)
            vf.time_base = self._tb
            # x264 leaves packet durations at 0, so the muxer would guess the last frame's
            # (and with it the stream duration); packets are matched back by pts.
            self._durations[vf.pts] = max(1, round(stamp.duration / self._tb)) if stamp.duration else self._step
            if self._audio is not None:
                self._audio.feed_until(float(vf.pts * self._tb))
            self._mux_video(vf)
        except av.FFmpegError as e:
            raise media_error(self.path, _failed(e), e) from None

    def _mux_video(self, vf: av.VideoFrame | None) -> None:
        assert self._out is not None and self._stream is not None  # opened by __init__ and _start
        for packet in self._stream.encode(vf):
            packet.duration = self._durations.pop(packet.pts, packet.duration)
            self._out.mux(packet)

    def _finish(self) -> None:
        assert self._out is not None  # opened in __init__
        try:
            self._mux_video(None)
            if self._audio is not None:
                self._audio.finish()
            self._out.close()
        except av.FFmpegError as e:
            if not (self._opts.fragmented and self.frames):
                raise media_error(self.path, _failed(e), e) from None
            # The fragments already on disk play without the last one: keep them (full disk).
            self.notes.append(f"{self.path}: ended early ({describe(e)}); what was written before plays")
            self._discard()

    def _discard(self) -> None:
        for part in (self._audio, self._out):
            if part is not None:
                try:
                    part.close()
                except Exception:  # already failing; the temp file is deleted next
                    pass
