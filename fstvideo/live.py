"""``fstvideo live``: camera (or a looping file) -> stylize -> virtual camera, without a window,
for a video call or beside OBS. Ctrl-C stops it (exit 130) after the camera and the virtual
camera are released.

The same latest-frame policy as the window: capture runs in its own thread and keeps only the
newest frame (:class:`fstvideo.capture.LatestFrame`), frames are shrunk to the processing
resolution before the net, and :class:`fstvideo.vcam.VirtualCamera` sends at a steady rate,
repeating the newest stylized frame while the net works on the next. A status line on stderr
every few seconds reports the net's rate, its time per frame and the capture-to-camera latency.
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .errors import FstError, MediaError, OptionsError
from .vcam import VcamOptions, VirtualCamera, parse_size

RESOLUTION_CHOICES = {"240p": 240, "360p": 360, "480p": 480, "720p": 720, "native": None}


@dataclass(frozen=True)
class LiveOptions:
    source: int | str = 0           # camera index, or a video/GIF/image file played in a loop at its own rate
    resolution: int | None = 240    # px, short side the net works at; None = native. 240 keeps a CPU
                                    # net near real time; the virtual camera enlarges to its own size
    mirror: bool = False            # flip cameras left-right first; off because call apps mirror their
                                    # own preview and send the true image to the others
    smooth: bool = False            # flow-guided temporal smoothing (fstvideo.temporal): less flicker, ~25 ms/frame
    vcam: VcamOptions = field(default_factory=VcamOptions)
    status_every: float = 5.0       # seconds between status lines on stderr; 0 = none
    frames: int | None = None       # stop after this many stylized frames; None = until Ctrl-C

    def validate(self) -> LiveOptions:
        if self.resolution is not None and int(self.resolution) < 16:
            raise OptionsError(f"processing resolution must be at least 16 px, got {self.resolution}")
        if self.status_every < 0:
            raise OptionsError(f"status interval must be >= 0 s, got {self.status_every}")
        self.vcam.validate()
        return self


@dataclass
class LiveResult:
    frames: int        # stylized frames written to the virtual camera
    sent: int          # frames the virtual camera sent (repeats included)
    repeated: int      # of those, repeats of a frame already sent (the net was slower than the camera rate)
    dropped: int       # captured frames never stylized (the net was slower than the source)
    seconds: float     # wall time from the first frame


def add_live_style_args(p: argparse.ArgumentParser, smooth_help: str) -> None:
    """Style, model variant, strength, colour and smoothing options shared by ``fstvideo live``
    and the window (``fstvideo gui``)."""
    p.add_argument("--style", default=None,
                   help="bundled/user style name or a .safetensors path (default: starry_night)")
    speed = p.add_mutually_exclusive_group()
    speed.add_argument("--fast", action="store_true",
                       help="use the style's fast CPU variant (<name>_fast; the default on CPU when installed)")
    speed.add_argument("--full", action="store_true", help="use the full model even on CPU")
    p.add_argument("--strength", type=float, default=1.0, help="0 = original, 1 = full style")
    p.add_argument("--preserve-color", action="store_true", help="stylize luminance only")
    p.add_argument("--smooth", action="store_true", help=smooth_help)


def shrink(frame: np.ndarray, resolution: int | None) -> np.ndarray:
    """Shrink so the short side is ``resolution`` px (INTER_AREA); smaller frames pass as is."""
    h, w = frame.shape[:2]
    if resolution is None or min(h, w) <= resolution:
        return frame
    s = resolution / min(h, w)
    return cv2.resize(frame, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def open_source(source: int | str, mirror: bool = False):
    from .capture import CameraSource, FileLoop
    if isinstance(source, int):
        return CameraSource(source, mirror=mirror)
    if not Path(source).is_file():
        raise MediaError(f"{source}: no such file")
    return FileLoop(source)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_live(options: LiveOptions, stylize: Callable[[np.ndarray], np.ndarray], cam: VirtualCamera,
             report: Callable[[str], None] = _stderr, stop: threading.Event | None = None) -> LiveResult:
    """Stylize ``options.source`` into ``cam`` until ``stop`` is set, ``options.frames`` were
    written, or Ctrl-C (KeyboardInterrupt propagates; the source is closed first). A failing
    source raises MediaError."""
    from .capture import LatestFrame
    options.validate()
    smoother = None
    if options.smooth:
        from .temporal import Smoother, SmoothOptions
        smoother = Smoother(SmoothOptions())
    feed = LatestFrame(open_source(options.source, options.mirror))
    frames, t0 = 0, None
    window = {"frames": 0, "net": 0.0, "latency": 0.0, "sent": cam.sent, "repeated": cam.repeated}
    last_report = time.monotonic()
    try:
        while not (stop is not None and stop.is_set()) and (options.frames is None or frames < options.frames):
            item = feed.take(0.1)
            if item is None:
                if feed.ended:
                    raise feed.error or MediaError("the source ended")
                continue
            frame, _, captured = item
            t0 = t0 or captured
            small = shrink(frame, options.resolution)
            start = time.monotonic()
            out = stylize(small)
            if smoother is not None:
                out = smoother(small, out)
            window["net"] += time.monotonic() - start
            cam.write(out)
            frames += 1
            window["frames"] += 1
            window["latency"] += time.monotonic() - captured
            now = time.monotonic()
            if options.status_every and now - last_report >= options.status_every:
                report(_status(window, cam, now - last_report, feed.dropped))
                window = {"frames": 0, "net": 0.0, "latency": 0.0, "sent": cam.sent, "repeated": cam.repeated}
                last_report = now
    finally:
        feed.close()
    return LiveResult(frames=frames, sent=cam.sent, repeated=cam.repeated, dropped=feed.dropped,
                      seconds=time.monotonic() - t0 if t0 else 0.0)


def _status(w: dict, cam: VirtualCamera, seconds: float, dropped: int) -> str:
    """'live: net 11.8 fps, 71 ms/frame, latency 93 ms; /dev/video2, 1280x720 at 30 fps: 29.9 fps
    sent, 61% repeats; 40 dropped'."""
    n = max(1, w["frames"])
    sent = cam.sent - w["sent"]
    repeats = 100.0 * (cam.repeated - w["repeated"]) / max(1, sent)
    return (f"live: net {w['frames'] / seconds:.1f} fps, {1000 * w['net'] / n:.0f} ms/frame, "
            f"latency {1000 * w['latency'] / n:.0f} ms; {cam.describe}: {sent / seconds:.1f} fps sent, "
            f"{repeats:.0f}% repeats; {dropped} dropped")


# -- the `fstvideo live` command ---------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, default=LiveOptions.source, metavar="N",
                     help="camera index (default: %(default)s)")
    src.add_argument("--source", default=None, metavar="FILE", help="play a video/GIF file in a loop instead")
    p.add_argument("--virtual-cam", action="store_true",
                   help="send the stylized stream to a virtual camera (v4l2loopback on Linux, OBS on "
                        "Windows/macOS) that call apps and OBS can pick")
    p.add_argument("--device", default=VcamOptions.device, metavar="DEV",
                   help="virtual camera: /dev/videoN on Linux, the camera's name elsewhere "
                        "(default: the first free one)")
    p.add_argument("--size", default=f"{VcamOptions.width}x{VcamOptions.height}", metavar="WxH",
                   help="virtual camera size; the picture is letterboxed, not stretched (default: %(default)s)")
    p.add_argument("--fps", type=float, default=VcamOptions.fps,
                   help="virtual camera frame rate, steady: the newest frame repeats while the net works "
                        "(default: %(default)g)")
    add_live_style_args(p, smooth_help="flow-guided temporal smoothing (less flicker, slower)")
    p.add_argument("--resolution", choices=list(RESOLUTION_CHOICES), default=None,
                   help="size the net works at (default: 240p on CPU, native on CUDA)")
    p.add_argument("--mirror", action="store_true", help="mirror the camera (call apps mirror their own preview)")
    p.add_argument("--net-device", default="auto", help="where the net runs: auto, cpu or cuda")
    p.add_argument("--status-every", type=float, default=LiveOptions.status_every, metavar="S",
                   help="seconds between status lines on stderr, 0 = none (default: %(default)g)")
    p.add_argument("--frames", type=int, default=None, help=argparse.SUPPRESS)  # tests: stop after N
    p.add_argument("--vcam-backend", default=None, help=argparse.SUPPRESS)  # tests: a registered backend


def register(subparsers) -> None:
    p = subparsers.add_parser("live", help="stylized camera as a virtual camera for calls and OBS (no window)",
                              description="Stylize a camera (or a looping video) into a virtual camera "
                                          "that Zoom, Meet, Teams or OBS can use. Ctrl-C stops.")
    add_arguments(p)
    p.set_defaults(func=run)


def _options(args: argparse.Namespace) -> LiveOptions:
    if not args.virtual_cam:
        raise OptionsError("nothing to send to: add --virtual-cam (the window is `fstvideo gui`)")
    if args.device in ("auto", "cpu", "cuda") or str(args.device or "").startswith("cuda:"):
        raise OptionsError(f"--device names the virtual camera here; for the net use --net-device {args.device}")
    if not 0.0 <= args.strength <= 1.0:
        raise OptionsError(f"--strength must be in [0, 1], got {args.strength}")
    width, height = parse_size(args.size)
    vcam = VcamOptions(width=width, height=height, fps=args.fps, device=args.device, backend=args.vcam_backend)
    source: int | str = args.source if args.source is not None else args.camera
    if isinstance(source, str) and not Path(source).is_file():
        raise MediaError(f"{source}: no such file")
    # resolution: the CPU default until run() knows the net's device
    return LiveOptions(source=source, resolution=LiveOptions.resolution, mirror=args.mirror, smooth=args.smooth,
                       vcam=vcam, status_every=args.status_every, frames=args.frames).validate()


def _stylizer(args: argparse.Namespace):
    from .styles import DEFAULT_STYLE, resolve, resolve_fast
    from .stylizer import Stylizer, StylizerOptions, pick_device
    options = StylizerOptions(device=args.net_device, strength=args.strength,
                              preserve_color=args.preserve_color).validate()
    device = pick_device(options.device)
    spec = args.style or DEFAULT_STYLE
    style = resolve(spec)  # unknown names fail here, in one line
    if args.fast or (device.type == "cpu" and not args.full):
        try:
            style = resolve_fast(spec)
        except FstError:
            if args.fast:  # asked for explicitly: say there is none; by default keep the full model
                raise
    return Stylizer(style, options), device


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace
    options = _options(args)
    with VirtualCamera(options.vcam) as cam:  # first: without a virtual camera nothing else matters
        _stderr(f"live: sending to {cam.describe} (black until the first frame); Ctrl-C stops")
        stylizer, device = _stylizer(args)
        default = None if device.type == "cuda" else LiveOptions.resolution
        options = replace(options, resolution=RESOLUTION_CHOICES[args.resolution] if args.resolution else default)
        result = run_live(options, stylizer, cam)
    _stderr(f"live: stopped after {result.frames} frames")
    return 0
