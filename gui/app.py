"""``fstvideo gui`` (alias ``fstvideo webcam``): the live style-transfer window.

PyQt6 is imported only when the window opens, so ``fstvideo --help`` works without it and a
missing PyQt6 or display is one error line, not a traceback or a Qt abort."""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from pathlib import Path

from fstvideo import FstError, MediaError, OptionsError
from fstvideo.live import add_live_style_args  # argparse options shared with `fstvideo live`

from .settings import AUTO  # no Qt in settings: --help still works without PyQt6

# auto: 240/360/480p picked while running so the net keeps up with the source's frame rate
RESOLUTION_CHOICES = {"auto": AUTO, "240p": 240, "360p": 360, "480p": 480, "style": 0, "native": None}


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, default=0, metavar="N", help="camera index (default: 0)")
    src.add_argument("--source", default=None, metavar="FILE",
                     help="play a video/GIF file in a loop instead of a camera")
    add_live_style_args(p, smooth_help="temporal smoothing on at start")
    p.add_argument("--resolution", choices=list(RESOLUTION_CHOICES), default=None,
                   help="processing resolution; auto keeps up with the camera's frame rate "
                        "(default: auto on CPU, native on CUDA)")
    p.add_argument("--no-mirror", action="store_true", help="don't mirror the camera image")
    p.add_argument("--side-by-side", action="store_true", help="show original | stylized")
    p.add_argument("--virtual-cam", action="store_true",
                   help="start sending to the virtual camera (Ctrl+Shift+V toggles it; see fstvideo live)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--output-dir", default=".", metavar="DIR", help="where snapshots and recordings go")
    p.add_argument("--fullscreen", action="store_true", help="start in full screen")
    p.add_argument("--screenshot", default=None, metavar="PNG", help=argparse.SUPPRESS)  # docs: grab and quit
    p.add_argument("--screenshot-frames", type=int, default=40, help=argparse.SUPPRESS)


def register(subparsers) -> None:
    """Add ``gui`` and its alias ``webcam`` to the ``fstvideo`` subcommands."""
    for name, text in (("gui", "live style-transfer window (camera or looping video)"),
                       ("webcam", "alias of gui")):
        p = subparsers.add_parser(name, help=text, description="Live style-transfer window. "
                                  "Press F1 in the window for the keyboard shortcuts.")
        add_arguments(p)
        p.set_defaults(func=run)


def _settings(args: argparse.Namespace):
    from fstvideo import DEFAULT_STYLE, StylizerOptions, pick_device, resolve_fast_style, resolve_style

    from .settings import Settings
    if not 0.0 <= args.strength <= 1.0:
        raise OptionsError(f"--strength must be in [0, 1], got {args.strength}")
    if args.source is not None:
        path = Path(args.source)
        if not path.is_file():
            raise MediaError(f"{path}: no such file")
        source: int | str = str(path)
    else:
        source = args.camera
    if not Path(args.output_dir).is_dir():
        raise OptionsError(f"--output-dir {args.output_dir}: not a folder")
    device = pick_device(StylizerOptions(device=args.device).validate().device)  # bad devices fail here
    default = None if device.type == "cuda" else AUTO  # CPU: the largest net size that stays live
    resolution = RESOLUTION_CHOICES[args.resolution] if args.resolution else default
    spec = args.style or DEFAULT_STYLE
    style = str(resolve_style(spec))  # unknown names fail here, in one line
    if args.fast or (device.type == "cpu" and not args.full):
        try:
            style = str(resolve_fast_style(spec))
        except FstError:
            if args.fast:  # asked for explicitly: say there is none; by default keep the full model
                raise
    return Settings(source=source, style=style, strength=args.strength, preserve_color=args.preserve_color,
                    smooth=args.smooth, resolution=resolution, mirror=not args.no_mirror,
                    side_by_side=args.side_by_side, virtual_cam=args.virtual_cam, device=args.device)


def _check_display() -> None:
    try:
        import PyQt6.QtWidgets  # noqa: F401
    except ImportError:
        raise OptionsError("the window needs PyQt6: pip install 'fstvideo[gui]'") from None
    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if sys.platform.startswith("linux") and headless and not os.environ.get("QT_QPA_PLATFORM"):
        raise OptionsError("no display (DISPLAY/WAYLAND_DISPLAY unset); run it in a desktop session "
                           "or under xvfb-run")


def run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _check_display()
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from .window import StyleWindow
    app = QApplication.instance() or QApplication(["fstvideo"])
    window = StyleWindow(settings, output_dir=args.output_dir)
    window.showFullScreen() if args.fullscreen else window.show()
    if args.screenshot:
        def grab() -> None:  # once enough frames went by (and thumbnails had time to render)
            if window.frames_shown >= args.screenshot_frames:
                window.grab().save(args.screenshot)
                window.close()
            else:
                QTimer.singleShot(200, grab)
        QTimer.singleShot(200, grab)
    with _close_on_signals(window) as stopped:
        app.exec()
    return 128 + stopped[0] if stopped else 0


@contextlib.contextmanager
def _close_on_signals(window):
    """Ctrl-C, SIGTERM and SIGHUP close the window the normal way (the worker finishes a recording,
    releases the camera) instead of killing the process mid-write; yields the signals received.
    Python runs signal handlers only between bytecodes, so a timer wakes it while Qt waits."""
    from PyQt6.QtCore import QTimer
    received: list[int] = []

    def handler(signum, frame):
        received.append(signum)
        window.close()

    wanted = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.getsignal(s) for s in wanted}
    # a signal ignored at start (nohup) stays ignored; fstvideo.cli may have installed its own
    mine = [s for s, h in previous.items() if h != signal.SIG_IGN
            and threading.current_thread() is threading.main_thread()]
    for s in mine:
        signal.signal(s, handler)
    tick = QTimer()
    tick.timeout.connect(lambda: None)
    tick.start(200)
    try:
        yield received
    finally:
        tick.stop()
        for s in mine:
            signal.signal(s, previous[s])


def main(argv: list[str] | None = None) -> int:
    """``python -m fstvideo.gui.app [options]``: the window without the ``fstvideo`` command."""
    p = argparse.ArgumentParser(prog="fstvideo gui", description="Live style-transfer window.")
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except FstError as e:
        print(f"fstvideo gui: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
