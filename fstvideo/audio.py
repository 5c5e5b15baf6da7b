"""Carry the audio streams of an input file into an output container.

Packets are copied untouched when the output container accepts the codec (FFmpeg's
``avformat_query_codec``, asked by PyAV's ``add_stream_from_template``), so duration, priming
and quality are exactly the input's. Otherwise they are decoded and re-encoded: AAC for
MP4/MOV/MKV, Opus for WebM. Packets are fed in time order alongside the video
(:meth:`AudioCarrier.feed_until`), so the muxer interleaves them instead of getting all audio
at the end.
"""
from __future__ import annotations

from pathlib import Path

import av

from .errors import MediaError
from .mediabase import describe, media_error

# Re-encoding target per output container (FFmpeg muxer name).
TRANSCODE = {"webm": "libopus"}
DEFAULT_TRANSCODE = "aac"


class AudioCarrier:
    def __init__(self, src: Path, out: av.container.OutputContainer) -> None:
        self._out = out
        self._src = src
        self.notes: list[str] = []
        try:
            self._in = av.open(str(src))
        except (av.FFmpegError, OSError) as e:
            raise media_error(src, "cannot reopen the input for its audio", e) from None
        self._map: dict[int, tuple[av.stream.Stream, bool]] = {}  # input index -> (output stream, re-encode?)
        try:
            for s in self._in.streams.audio:
                self._map[s.index] = self._add(s)
        except (av.FFmpegError, ValueError) as e:
            self.close()
            raise media_error(src, "cannot carry its audio (use audio=False / --no-audio)", e) from None
        self._packets = self._in.demux(*self._in.streams.audio)
        self._held: av.Packet | None = None   # read, but later than the video written so far
        self._flushed = False

    def _add(self, s: av.audio.AudioStream) -> tuple[av.stream.Stream, bool]:
        try:
            return self._out.add_stream_from_template(s), False
        except ValueError:  # the container does not take this codec
            pass
        name = TRANSCODE.get(self._out.format.name, DEFAULT_TRANSCODE)
        cc = s.codec_context
        rate = 48000 if name == "libopus" else (cc.sample_rate or 48000)  # Opus runs at 48 kHz only
        layout = cc.layout.name if cc.layout.nb_channels <= (2 if name == "libopus" else 8) else "stereo"
        out = self._out.add_stream(name, rate=rate, layout=layout)
        self.notes.append(f"audio stream {s.index} ({cc.name}) re-encoded as {out.codec_context.name}: "
                          f"{self._out.format.name} cannot hold {cc.name}")
        return out, True

    def _mux(self, packet: av.Packet) -> None:
        out, reencode = self._map[packet.stream.index]
        if not reencode:
            packet.stream = out  # PyAV rescales pts/dts to the output stream's time base
            self._out.mux(packet)
            return
        try:
            frames = packet.decode()
            encoded = [p for frame in frames for p in out.encode(frame)]
        except av.FFmpegError as e:
            if isinstance(e, OSError):
                raise
            raise MediaError(f"{self._src}: cannot re-encode its audio ({describe(e)}); --no-audio drops it") from None
        self._out.mux(encoded)

    def feed_until(self, seconds: float | None) -> None:
        """Mux every audio packet that starts at or before ``seconds`` (None: all of them)."""
        while True:
            p = self._held
            self._held = None
            if p is None:
                try:
                    p = next(self._packets)
                except StopIteration:
                    return
                except av.FFmpegError:  # truncated tail: keep what was read
                    return
            if p.dts is None and p.pts is None:  # demuxer's end-of-stream marker
                continue
            t = p.pts if p.pts is not None else p.dts
            if seconds is not None and t * p.time_base > seconds:
                self._held = p
                return
            self._mux(p)

    def finish(self) -> None:
        """Mux the rest and flush re-encoders; the output container stays open."""
        self.feed_until(None)
        for out, reencode in self._map.values():
            if reencode:
                self._out.mux(out.encode(None))
        self.close()

    def close(self) -> None:
        self._in.close()
