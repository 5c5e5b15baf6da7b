"""Virtual camera output: the stylized stream as a webcam that other programs (Zoom, Meet, Teams,
OBS, a browser) can pick, through pyvirtualcam (optional: ``pip install 'fstvideo[live]'``):
v4l2loopback on Linux, OBS Studio's virtual camera on Windows and macOS.

A call app expects one fixed size and a steady frame rate, whatever the net manages, so
:class:`VirtualCamera` decouples the two. :meth:`VirtualCamera.write` letterboxes a frame of any
size into the output size (aspect kept, black bars, never stretched) and puts it in a one-slot
mailbox; a pacing thread sends the mailbox's frame every ``1/fps`` seconds. When the net is
slower than that, the newest frame is sent again; frames that arrive faster are replaced before
they are sent. Nothing is ever queued, so the call shows the net's newest frame at most one
output period late. Every pyvirtualcam call (open, send, close) happens in the pacing thread.
"""
from __future__ import annotations

import platform
import re
import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import MediaError, OptionsError
from .frames import check_frame

INSTALL_LIVE = "pip install 'fstvideo[live]'"  # the extra that brings pyvirtualcam


@dataclass(frozen=True)
class VcamOptions:
    width: int = 1280           # px the receiving app sees; 1280x720 (HD) is what call apps ask a
                                # webcam for. Frames are letterboxed into it, the net keeps its own size
    height: int = 720           # px
    fps: float = 30.0           # frames sent per second, steady: call apps stall or drop a camera
                                # that goes quiet, so the newest frame is repeated when the net is slower
    device: str | None = None   # /dev/videoN (Linux) or the camera's name ("OBS Virtual Camera");
                                # None = the first free virtual camera
    backend: str | None = None  # pyvirtualcam backend name; None = this OS's (v4l2loopback, obs).
                                # Tests register a recording backend and name it here

    def validate(self) -> VcamOptions:
        # Even sizes: the devices carry YUV 4:2:0 / 4:2:2, which halve the chroma resolution.
        for name, v in (("width", self.width), ("height", self.height)):
            if not 32 <= int(v) <= 4096 or int(v) % 2:
                raise OptionsError(f"virtual camera {name} must be an even number of px in 32-4096, got {v}")
        if not 1.0 <= float(self.fps) <= 120.0:
            raise OptionsError(f"virtual camera frame rate must be in 1-120 fps, got {self.fps}")
        return self


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720); OptionsError otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise OptionsError(f"bad size '{text}' (expected WIDTHxHEIGHT, e.g. 1280x720)")
    return int(m.group(1)), int(m.group(2))


def install_hint(system: str | None = None, device: str | None = None) -> str:
    """What to install or run on this OS so a virtual camera exists (one line)."""
    system = system or platform.system()
    if system == "Linux":
        m = re.fullmatch(r"/dev/video(\d+)", device or "")
        nr = f" video_nr={m.group(1)}" if m else ""  # creates exactly the device asked for
        return ("install v4l2loopback (Debian/Ubuntu: sudo apt install v4l2loopback-dkms) and load it: "
                f"sudo modprobe v4l2loopback exclusive_caps=1{nr} card_label=fstvideo")
    if system == "Windows":
        return "install OBS Studio 26 or newer (obsproject.com): it adds the 'OBS Virtual Camera' device"
    if system == "Darwin":
        return ("install OBS Studio 28 or newer (30+ on macOS 13+), click Start Virtual Camera once, "
                "then Stop Virtual Camera and quit OBS")
    return f"virtual cameras work on Linux, Windows and macOS only (this is {system or 'unknown'})"


def _reason(error: Exception) -> str:
    """pyvirtualcam's per-backend failures ("'name' backend: First sentence. More.") -> one line."""
    parts = []
    for line in str(error).splitlines():
        name, sep, text = line.partition(" backend: ")
        text = text if sep else line
        first = text.split(". ")[0].strip().rstrip(".")
        first = first[:1].lower() + first[1:]
        if first:
            parts.append(f"{name.strip(chr(39))}: {first}" if sep else first)
    return "; ".join(parts) or "no virtual camera backend on this system"


def letterbox(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Fit ``frame`` (HxWx3 uint8 RGB) inside ``width`` x ``height``, aspect kept, centred on
    black bars. Returns a new array: the mailbox hands it to another thread."""
    check_frame(frame)
    h, w = frame.shape[:2]
    fit = min(width / w, height / h)
    nw, nh = max(1, min(width, round(w * fit))), max(1, min(height, round(h * fit)))
    if (nw, nh) != (w, h):  # area when shrinking (no aliasing), bilinear when enlarging
        frame = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if fit < 1 else cv2.INTER_LINEAR)
    out = np.zeros((height, width, 3), np.uint8)
    x, y = (width - nw) // 2, (height - nh) // 2
    out[y:y + nh, x:x + nw] = frame
    return out


class VirtualCamera:
    """``VirtualCamera(options)``: opens the virtual camera (MediaError with what to install
    when there is none) and starts sending black frames at ``options.fps``; :meth:`write`
    replaces what is sent; :meth:`close` (or ``with``) stops the thread and frees the device.

    ``device`` and ``backend`` name what was opened; ``written``, ``sent`` and ``repeated``
    count frames given to :meth:`write`, frames sent, and sends of a frame already sent.
    """

    def __init__(self, options: VcamOptions = VcamOptions(), open_timeout: float = 10.0):
        self.options = options.validate()
        try:
            import pyvirtualcam
        except ImportError:
            raise MediaError(f"virtual camera output needs pyvirtualcam: {INSTALL_LIVE}") from None
        self._pyvirtualcam = pyvirtualcam
        if options.backend is not None and options.backend not in pyvirtualcam.camera.BACKENDS:
            raise OptionsError(f"unknown virtual camera backend '{options.backend}'")
        self.device = ""
        self.backend = ""
        self.written = self.sent = self.repeated = 0
        self.error: MediaError | None = None  # a send that failed (device removed); write() raises it
        self._lock = threading.Lock()
        self._frame = np.zeros((options.height, options.width, 3), np.uint8)  # black until the first write
        self._fresh = True  # the black frame counts as new: "repeated" counts repeats only
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vcam", daemon=True)
        self._thread.start()
        if not self._ready.wait(open_timeout):
            self.close()
            raise MediaError(f"virtual camera did not open within {open_timeout:.0f} s")
        if self.error is not None:
            self._thread.join()
            raise self.error

    def _open(self):
        o = self.options
        try:
            return self._pyvirtualcam.Camera(o.width, o.height, o.fps, fmt=self._pyvirtualcam.PixelFormat.RGB,
                                             device=o.device, backend=o.backend)
        except Exception as e:  # pyvirtualcam raises RuntimeError with one line per backend tried
            self.error = MediaError(f"no virtual camera ({_reason(e)}); {install_hint(device=o.device)}")
            return None

    def _run(self) -> None:
        cam = self._open()
        if cam is not None:
            self.device, self.backend = str(cam.device), str(cam.backend)
        self._ready.set()
        if cam is None:
            return
        period = 1.0 / float(self.options.fps)
        due = time.monotonic()
        try:
            while not self._stop.is_set():
                with self._lock:
                    frame, fresh, self._fresh = self._frame, self._fresh, False
                try:
                    cam.send(frame)
                except Exception as e:  # device removed or driver error: the writer reports it
                    self.error = MediaError(f"virtual camera {self.device}: {e}")
                    return
                self.sent += 1
                self.repeated += not fresh
                due += period
                now = time.monotonic()
                if now - due > period:  # fell behind (stalled process): skip the missed slots, no burst
                    due = now
                self._stop.wait(due - now)
        finally:
            cam.close()

    def write(self, frame: np.ndarray) -> None:
        """Send ``frame`` (HxWx3 uint8 RGB, any size) from the next slot on, letterboxed; it is
        repeated until the next write. Raises MediaError once sending failed or after close."""
        if self.error is not None:
            raise self.error
        if self._stop.is_set():
            raise MediaError("virtual camera is closed")
        boxed = letterbox(frame, self.options.width, self.options.height)
        with self._lock:
            self._frame, self._fresh = boxed, True
            self.written += 1

    @property
    def describe(self) -> str:
        """'/dev/video2, 1280x720 at 30 fps' for status lines."""
        o = self.options
        return f"{self.device or 'virtual camera'}, {o.width}x{o.height} at {o.fps:g} fps"

    def close(self, timeout: float = 5.0) -> None:
        """Stop sending and free the device; safe to call twice."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
