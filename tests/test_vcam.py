"""Virtual camera output without special hardware: a pyvirtualcam backend registered by the test
records what it is sent (size, RGB order, letterboxing, pacing, stop), a failing one stands in
for a machine without v4l2loopback/OBS. The real v4l2loopback device is read back with OpenCV
only where the kernel module is loaded."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import (window tests below)

import json  # noqa: E402
import platform  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pyvirtualcam = pytest.importorskip("pyvirtualcam")

from fstvideo import MediaError, OptionsError  # noqa: E402
from fstvideo.live import LiveOptions, run_live  # noqa: E402
from fstvideo.vcam import VcamOptions, VirtualCamera, install_hint, letterbox, parse_size  # noqa: E402

WAIT = 20.0  # s: generous upper bound for a loaded 2-core machine, never a speed assertion
NO_V4L2 = ("No v4l2 loopback device found at /dev/video[0-99]. Did you run 'modprobe v4l2loopback'? "
           "See also pyvirtualcam's documentation.")  # what pyvirtualcam's Linux backend says

# The backend as source text: the CLI subprocesses register the same class (see RUNNER).
BACKEND = '''
import json, os, threading, time
import numpy as np

class RecordingBackend:
    """Keeps (time.monotonic(), HxWx3 frame) per send; writes a summary to $VCAM_LOG at close."""
    made = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self.name = device or "recorder0"
        self.sends, self.closed, self.owner = [], 0, threading.current_thread().name
        RecordingBackend.made.append(self)

    def send(self, frame):
        assert frame.ndim == 1 and frame.dtype == np.uint8 and frame.flags.c_contiguous
        self.sends.append((time.monotonic(), frame.reshape(self.height, self.width, 3).copy()))
        del self.sends[:-400]  # bounded: 1280x720 frames at 30 fps

    def close(self):
        self.closed += 1
        if os.environ.get("VCAM_LOG"):
            lit = [f for _, f in self.sends if f.any()]
            with open(os.environ["VCAM_LOG"], "w") as fh:
                json.dump({"sends": len(self.sends), "closed": self.closed, "size": [self.width, self.height],
                           "fps": self.fps, "lit": len(lit)}, fh)

    def device(self):
        return self.name

    def native_fourcc(self):
        return None


class MissingBackend:
    def __init__(self, **kw):
        raise RuntimeError(NO_V4L2)
'''
exec(BACKEND, globals())

RUNNER = BACKEND + '''
import sys
import pyvirtualcam
pyvirtualcam.register_backend("record", RecordingBackend)
pyvirtualcam.register_backend("missing", MissingBackend)
from fstvideo.cli import main
sys.exit(main(sys.argv[1:]))
'''


@pytest.fixture
def backends(monkeypatch):
    """Only the test backends: a machine with a real virtual camera must not receive test frames."""
    RecordingBackend.made.clear()
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {"record": RecordingBackend})
    return RecordingBackend.made


def wait_for(cond, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def solid(h: int, w: int, rgb) -> np.ndarray:
    f = np.empty((h, w, 3), np.uint8)
    f[:] = rgb
    return f


# -- pure helpers -----------------------------------------------------------------------------
def test_letterbox_keeps_aspect_on_black_bars():
    out = letterbox(solid(30, 40, (10, 200, 30)), 160, 90)  # 4:3 into 16:9: bars left and right
    assert out.shape == (90, 160, 3) and out.dtype == np.uint8
    assert (out[:, :20] == 0).all() and (out[:, 140:] == 0).all()
    assert (out[:, 20:140] == (10, 200, 30)).all()
    out = letterbox(solid(90, 160, (255, 0, 0)), 64, 48)  # 16:9 into 4:3: bars top and bottom
    assert (out[:6] == 0).all() and (out[42:] == 0).all() and (out[6:42] == (255, 0, 0)).all()
    same = solid(36, 64, (1, 2, 3))
    assert letterbox(same, 64, 36) is not same  # a copy: the sender thread reads it later


def test_options_and_sizes_are_checked():
    assert parse_size("1280x720") == (1280, 720) and parse_size(" 64X36 ") == (64, 36)
    for bad in ("1280", "x720", "12.5x7"):
        with pytest.raises(OptionsError):
            parse_size(bad)
    for bad in (VcamOptions(width=641), VcamOptions(height=8), VcamOptions(fps=0)):
        with pytest.raises(OptionsError):
            bad.validate()


def test_install_hint_per_os():
    assert "sudo modprobe v4l2loopback exclusive_caps=1" in install_hint("Linux")
    assert "video_nr=7" in install_hint("Linux", "/dev/video7")
    assert "OBS" in install_hint("Windows") and "OBS" in install_hint("Darwin")
    for system in ("Linux", "Windows", "Darwin", "Plan9"):
        assert "\n" not in install_hint(system)


# -- the sink, with the recording backend ------------------------------------------------------
def test_sends_rgb_frames_at_the_output_size(backends):
    with VirtualCamera(VcamOptions(width=64, height=36, fps=30, backend="record")) as cam:
        assert cam.device == "recorder0" and cam.backend == "record"
        assert cam.describe == "recorder0, 64x36 at 30 fps"
        rec = backends[0]
        assert rec.fourcc == pyvirtualcam.util.encode_fourcc("raw ")  # RGB, not BGR
        assert rec.owner == "vcam"  # opened in the pacing thread, like every send and the close
        wait_for(lambda: rec.sends)
        assert not rec.sends[0][1].any()  # black until the first frame
        frame = solid(36, 64, (255, 0, 0))
        frame[:, 32:] = (0, 0, 255)  # right half blue: order and orientation
        cam.write(frame)
        wait_for(lambda: rec.sends[-1][1].any())
        got = rec.sends[-1][1]
        assert got.shape == (36, 64, 3)
        assert (got[:, :32] == (255, 0, 0)).all() and (got[:, 32:] == (0, 0, 255)).all()


def test_newest_frame_repeats_and_older_ones_are_dropped(backends):
    with VirtualCamera(VcamOptions(width=32, height=32, fps=50, backend="record")) as cam:
        rec = backends[0]
        for i in range(1, 11):  # much faster than 50 fps: all but the newest are replaced unsent
            cam.write(solid(32, 32, (i, i, i)))
        wait_for(lambda: sum(f[0, 0, 0] == 10 for _, f in rec.sends) >= 5)
        values = [int(f[0, 0, 0]) for _, f in rec.sends]
    assert values == sorted(values)  # never an older frame after a newer one
    assert len(set(values) - {0}) < 10  # not a queue
    assert cam.written == 10 and cam.repeated >= 4


def test_close_stops_cleanly(backends):
    cam = VirtualCamera(VcamOptions(width=32, height=32, fps=30, backend="record"))
    wait_for(lambda: backends[0].sends)
    cam.close()
    cam.close()  # twice is fine
    assert backends[0].closed == 1 and not cam._thread.is_alive()
    n = len(backends[0].sends)
    time.sleep(0.1)
    assert len(backends[0].sends) == n  # nothing sent after close
    with pytest.raises(MediaError):
        cam.write(solid(32, 32, (1, 1, 1)))


def test_a_failing_send_is_reported_by_the_next_write(backends, monkeypatch):
    def broken(self, frame):
        raise OSError("No such device")
    with VirtualCamera(VcamOptions(width=32, height=32, fps=30, backend="record")) as cam:
        monkeypatch.setattr(RecordingBackend, "send", broken)
        wait_for(lambda: cam.error is not None)
        with pytest.raises(MediaError, match="No such device"):
            cam.write(solid(32, 32, (1, 1, 1)))
    assert backends[0].closed == 1


def test_missing_backend_is_one_line_with_what_to_install(monkeypatch):
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {"v4l2loopback": MissingBackend})
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    with pytest.raises(MediaError) as e:
        VirtualCamera(VcamOptions(width=64, height=36))
    text = str(e.value)
    assert "\n" not in text and "no v4l2 loopback device found" in text
    assert "sudo modprobe v4l2loopback exclusive_caps=1" in text and "See also" not in text
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {})  # an OS pyvirtualcam has no backend for
    with pytest.raises(MediaError, match="no virtual camera"):
        VirtualCamera(VcamOptions(width=64, height=36))


# -- the live loop: steady delivery under a slow net -------------------------------------------
def test_slow_net_still_gets_a_steady_rate(backends, make_clip):
    clip = str(make_clip("clip.mp4", pts=[i * 40 for i in range(50)]))  # 64x48 at 25 fps
    calls = []

    def slow(frame):  # ~4 fps net against a 20 fps camera
        calls.append(frame.shape)
        time.sleep(0.25)
        return 255 - frame

    lines = []
    options = LiveOptions(source=clip, resolution=None, status_every=0.4, frames=5,
                          vcam=VcamOptions(width=160, height=90, fps=20, backend="record"))
    with VirtualCamera(options.vcam) as cam:
        result = run_live(options, slow, cam, report=lines.append)
        rec = backends[0]
        sends = list(rec.sends)
    assert result.frames == 5 and calls == [(48, 64, 3)] * 5
    assert result.dropped > 0  # the source ran ahead; its frames were dropped, not queued
    lit = [(t, f) for t, f in sends if f.any()]
    assert lit and all(f.shape == (90, 160, 3) for _, f in lit)
    assert all((f[:, :20] == 0).all() and (f[:, 140:] == 0).all() for _, f in lit)  # 4:3 letterboxed
    distinct = {f.tobytes() for _, f in lit}
    assert len(distinct) <= 5 < len(lit)  # each stylized frame sent several times
    gaps = np.diff([t for t, _ in sends])
    span = sends[-1][0] - sends[0][0]
    assert len(sends) >= 0.5 * 20 * span  # about 20 fps although the net made ~4
    assert 0.025 < float(np.median(gaps)) < 0.1  # paced at 1/20 s, not in bursts
    assert lines and all("latency" in s and "ms/frame" in s and "recorder0" in s for s in lines)


# -- the command ---------------------------------------------------------------------------------
def run_cli(tmp_path, *args, env=None):
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    return subprocess.run([sys.executable, str(runner), *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "VCAM_LOG": str(tmp_path / "vcam.json"), **(env or {})},
                          timeout=300)


def test_cli_sends_a_stylized_clip(tmp_path, make_clip):
    clip = make_clip("clip.mp4", pts=[i * 40 for i in range(20)])
    p = run_cli(tmp_path, "live", "--source", clip, "--virtual-cam", "--vcam-backend", "record", "--style",
                "starry_night", "--size", "320x180", "--fps", "15", "--frames", "30", "--net-device", "cpu")
    assert p.returncode == 0, p.stderr
    log = json.loads((tmp_path / "vcam.json").read_text())
    # 30 frames (2 s at 15 fps): black ones are sent while the net's first frame is under way, which
    # on a loaded 2-core CPU can take longer than a few frame intervals
    assert log["size"] == [320, 180] and log["fps"] == 15 and log["closed"] == 1 and log["lit"] >= 1
    assert "sending to recorder0, 320x180 at 15 fps" in p.stderr and "Traceback" not in p.stderr


def test_cli_ctrl_c_stops_cleanly(tmp_path, make_clip):
    clip = make_clip("clip.mp4", pts=[i * 40 for i in range(20)])
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    p = subprocess.Popen([sys.executable, str(runner), "live", "--source", str(clip), "--virtual-cam",
                          "--vcam-backend", "record", "--size", "64x48", "--status-every", "0.3"],
                         stderr=subprocess.PIPE, text=True, env={**os.environ, "VCAM_LOG": str(tmp_path / "vcam.json")})
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(p.stderr), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any(s.startswith("live: net") for s in lines), timeout=120)  # frames flowing
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=60)
    reader.join(10)
    err = "".join(lines)
    assert p.returncode == 130, err
    assert "fstvideo: interrupted" in err and "Traceback" not in err
    log = json.loads((tmp_path / "vcam.json").read_text())
    assert log["closed"] == 1 and log["lit"] >= 1


def test_cli_without_a_backend_says_what_to_install(tmp_path, make_clip):
    clip = make_clip("clip.mp4")
    p = run_cli(tmp_path, "live", "--source", clip, "--virtual-cam", "--vcam-backend", "missing")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.startswith("fstvideo: error: no virtual camera") and install_hint() in p.stderr


@pytest.mark.skipif(sys.platform != "linux" or Path("/sys/module/v4l2loopback").exists(),
                    reason="needs Linux without the v4l2loopback module")
def test_real_cli_without_v4l2loopback_exits_2(make_clip):
    clip = make_clip("clip.mp4")
    p = subprocess.run([sys.executable, "-m", "fstvideo.cli", "live", "--source", str(clip), "--virtual-cam"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
    assert "sudo modprobe v4l2loopback exclusive_caps=1" in p.stderr


def test_cli_without_pyvirtualcam_says_pip_install(tmp_path, make_clip):
    runner = tmp_path / "nopvc.py"
    runner.write_text("import sys\nsys.modules['pyvirtualcam'] = None  # as if not installed\n"
                      "from fstvideo.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    p = subprocess.run([sys.executable, str(runner), "live", "--source", str(make_clip("clip.mp4")),
                        "--virtual-cam"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
    assert "pip install 'fstvideo[live]'" in p.stderr


def test_cli_option_errors_are_one_line(tmp_path):
    for args, expect in ((["--source", "nope.mp4", "--virtual-cam"], "no such file"),
                         (["--virtual-cam", "--device", "cuda"], "--net-device"),
                         (["--virtual-cam", "--size", "big"], "WIDTHxHEIGHT"),
                         ([], "--virtual-cam")):
        p = run_cli(tmp_path, "live", *args)
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and expect in p.stderr, (args, p.stderr)


# -- the window's toggle ----------------------------------------------------------------------
@pytest.fixture
def window(qtbot, tmp_path, make_clip, monkeypatch):
    pytest.importorskip("PyQt6.QtWidgets")
    import torch

    from fstvideo import NetConfig, build_net, save_style
    from fstvideo.gui import window as window_module
    from fstvideo.gui.settings import Settings
    torch.manual_seed(0)
    style = str(save_style(tmp_path / "tiny.safetensors", build_net(NetConfig(widths=(8, 16, 16), blocks=1)),
                           "tiny"))
    monkeypatch.setattr(window_module, "list_styles", lambda: {"tiny": style})  # no bundled thumbnails
    clip = str(make_clip("clip.mp4", pts=[i * 50 for i in range(20)]))
    w = window_module.StyleWindow(Settings(source=clip, style=style, resolution=None, mirror=False, device="cpu"),
                                  output_dir=tmp_path)
    qtbot.addWidget(w)  # closed (worker joined) after the test
    w.show()
    return w


def test_window_toggle_sends_the_stylized_stream(qtbot, window, backends):
    w = window
    qtbot.waitUntil(lambda: w.frames_shown >= 2, timeout=int(WAIT * 1000))
    w.toggle_virtual_cam()  # Ctrl+Shift+V
    assert w.vcam.action.isChecked() and w.panel.vcam.isChecked() and w.worker.settings().virtual_cam
    qtbot.waitUntil(lambda: bool(backends) and any(f.any() for _, f in backends[0].sends), timeout=int(WAIT * 1000))
    frame = next(f for _, f in reversed(backends[0].sends) if f.any())
    assert frame.shape == (720, 1280, 3)  # the default size, letterboxed from 64x48
    assert (frame[:, :160] == 0).all() and frame[:, 160:1120].any()
    qtbot.waitUntil(lambda: "recorder0" in w.vcam.label.text(), timeout=int(WAIT * 1000))
    qtbot.waitUntil(lambda: "latency" in w.vcam.label.text(), timeout=int(WAIT * 1000))
    w.panel.vcam.click()  # the panel button turns it off too
    qtbot.waitUntil(lambda: backends[0].closed == 1, timeout=int(WAIT * 1000))
    # the worker closes the backend, then its vcamChanged signal reaches the window's thread
    qtbot.waitUntil(lambda: not w.vcam.action.isChecked() and w.vcam.label.text() == "", timeout=int(WAIT * 1000))


def test_window_without_a_backend_shows_what_to_install(qtbot, window, monkeypatch):
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {"v4l2loopback": MissingBackend})
    w = window
    w.vcam.action.trigger()
    qtbot.waitUntil(lambda: w.vcam.box is not None, timeout=int(WAIT * 1000))
    assert install_hint() in w.vcam.box.text() and "\n" not in w.vcam.box.text()
    assert not w.vcam.action.isChecked() and not w.panel.vcam.isChecked()
    assert not w.worker.settings().virtual_cam  # not retried every frame
    assert install_hint() in w.statusBar().currentMessage()


@pytest.mark.skipif(not Path("/sys/module/v4l2loopback").exists(), reason="v4l2loopback module not loaded")
def test_real_v4l2loopback_device_reads_back():
    cv2 = pytest.importorskip("cv2")
    frame = solid(240, 320, (230, 20, 20))
    frame[:, 160:] = (20, 20, 230)
    with VirtualCamera(VcamOptions(width=320, height=240, fps=30, backend="v4l2loopback")) as cam:
        cam.write(frame)
        cap = cv2.VideoCapture(cam.device, cv2.CAP_V4L2)
        try:
            assert cap.isOpened(), cam.device
            got = None
            for _ in range(30):  # the first reads may still be black
                ok, bgr = cap.read()
                if ok and bgr[..., ::-1][:, :150].mean() > 40:
                    got = bgr[..., ::-1]
                    break
        finally:
            cap.release()
    assert got is not None and got.shape == (240, 320, 3)
    left, right = got[:, :150].reshape(-1, 3).mean(0), got[:, 170:].reshape(-1, 3).mean(0)
    assert left[0] > 150 > left[2] and right[2] > 150 > right[0]  # red left, blue right (YUV: approx)
