"""The webcam window under Qt's offscreen platform, with a generated clip standing in for the
camera and tiny random styles (widths 8/16/16, one block) to keep the CPU low."""
from __future__ import annotations

import os
from dataclasses import replace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("PyQt6.QtWidgets")
pytest.importorskip("pytestqt")

from PyQt6.QtCore import Qt  # noqa: E402

from fstvideo import NetConfig, build_net, save_style  # noqa: E402
from fstvideo.gui import window as window_module  # noqa: E402
from fstvideo.gui import worker as worker_module  # noqa: E402
from fstvideo.gui.app import main, register  # noqa: E402
from fstvideo.gui.autores import AutoResolution  # noqa: E402
from fstvideo.gui.settings import AUTO, Settings  # noqa: E402
from fstvideo.gui.view import stats_text  # noqa: E402
from fstvideo.gui.window import StyleWindow  # noqa: E402
from fstvideo.gui.worker import StyleWorker  # noqa: E402
from fstvideo.media import open_media, read_image  # noqa: E402
from fstvideo.stylizer import Stylizer, StylizerOptions  # noqa: E402

WAIT = 20_000  # ms: generous upper bounds for a loaded 2-core machine, never a speed assertion


@pytest.fixture
def styles(tmp_path):
    paths = []
    for seed, name in enumerate(["tiny_a", "tiny_b"]):
        torch.manual_seed(seed)
        net = build_net(NetConfig(widths=(8, 16, 16), blocks=1))
        paths.append(str(save_style(tmp_path / f"{name}.safetensors", net, name)))
    return paths


@pytest.fixture
def clip(make_clip):
    return str(make_clip("clip.mp4", pts=[i * 50 for i in range(20)]))  # 64x48, 20 frames at 20 fps


@pytest.fixture
def open_window(qtbot, tmp_path, styles, monkeypatch):
    # Only the test styles in the picker: no thumbnails of full-size bundled nets to render.
    monkeypatch.setattr(window_module, "list_styles", lambda: {"tiny_a": styles[0], "tiny_b": styles[1]})

    def make(source, **kw) -> StyleWindow:
        kw.setdefault("resolution", None)  # native: the clips are tiny
        settings = Settings(source=source, style=styles[0], mirror=False, device="cpu", **kw)
        w = StyleWindow(settings, output_dir=tmp_path)
        qtbot.addWidget(w)  # closed (worker joined) after the test
        w.show()
        return w
    return make


def frames_after(qtbot, w: StyleWindow, n: int) -> None:
    target = w.frames_shown + n
    qtbot.waitUntil(lambda: w.frames_shown >= target, timeout=WAIT)


def test_stylized_frames_reach_the_window(qtbot, open_window, clip):
    w = open_window(clip)
    frames_after(qtbot, w, 3)
    s = w.shown
    assert (s.image.width(), s.image.height()) == (64, 48)
    assert s.stats.style == "tiny_a" and (s.stats.width, s.stats.height) == (64, 48)
    assert s.output.shape == s.frame.shape == (48, 64, 3)
    assert np.abs(s.output.astype(int) - s.frame).mean() > 5  # stylized, not the input
    assert w.view.image is s.image


def test_processing_resolution_shrinks_frames(qtbot, open_window, make_clip):
    w = open_window(str(make_clip("wide.mp4", size=(96, 64))))
    w.worker.update(resolution=32)  # short side 32 px
    qtbot.waitUntil(lambda: w.shown is not None and w.shown.output.shape == (32, 48, 3), timeout=WAIT)
    s = w.shown.stats
    assert (s.width, s.height, s.net_width, s.net_height) == (96, 64, 48, 32)
    assert (w.shown.image.width(), w.shown.image.height()) == (48, 32)


def test_auto_resolution_picks_the_net_size(qtbot, open_window, make_clip, monkeypatch):
    # Steps of 32/48 px so a 96x64 clip has something to pick; it starts at the lowest.
    monkeypatch.setattr(worker_module, "AutoResolution", lambda: AutoResolution(heights=(32, 48)))
    w = open_window(str(make_clip("wide.mp4", size=(96, 64))), resolution=AUTO)
    frames_after(qtbot, w, 1)
    s = w.shown.stats
    assert s.auto and (s.width, s.height) == (96, 64) and s.net_height in (32, 48)  # never native 64
    assert w.shown.output.shape == (s.net_height, s.net_width, 3)
    assert "→ net" in stats_text(s) and "(auto)" in stats_text(s)
    assert w.panel.resolution.currentText() == "auto"
    w.worker.update(resolution=None)
    qtbot.waitUntil(lambda: not w.shown.stats.auto and w.shown.output.shape == (64, 96, 3), timeout=WAIT)


def test_auto_resolution_resets_for_a_new_source_or_style():
    worker = StyleWorker(Settings(resolution=AUTO))  # not started: _resolution is called by its loop
    s = worker.settings()
    assert worker._resolution(s, 1) == 240
    worker._auto.height = 480  # as if it had climbed
    assert worker._resolution(s, 1) == 480
    assert worker._resolution(s, 2) == 240  # a new source
    worker._auto.height = 480
    assert worker._resolution(replace(s, style="other"), 2) == 240  # a new style
    assert worker._resolution(replace(s, resolution=360), 2) == 360
    worker._auto.height = 480
    assert worker._resolution(s, 2) == 240  # auto chosen again: measured afresh


def test_style_switch_changes_output(qtbot, open_window, clip, styles):
    w = open_window(clip)
    frames_after(qtbot, w, 2)
    qtbot.keyClick(w.view, Qt.Key.Key_2)  # second style in the picker
    qtbot.waitUntil(lambda: w.shown.stats.style == "tiny_b", timeout=WAIT)
    s = w.shown
    a, b = Stylizer(styles[0])(s.frame), Stylizer(styles[1])(s.frame)
    assert np.abs(s.output.astype(int) - b).mean() < 1.0   # made by style b ...
    assert np.abs(s.output.astype(int) - a).mean() > 10.0  # ... not a
    qtbot.keyClick(w.view, Qt.Key.Key_Left)  # previous style
    qtbot.waitUntil(lambda: w.shown.stats.style == "tiny_a", timeout=WAIT)


def test_keyboard_shortcuts(qtbot, open_window, clip):
    w = open_window(clip)
    frames_after(qtbot, w, 1)
    for _ in range(10):
        qtbot.keyClick(w.view, Qt.Key.Key_Minus)
    assert w.worker.settings().strength == 0.0
    qtbot.waitUntil(lambda: np.array_equal(w.shown.output, w.shown.frame), timeout=WAIT)  # strength 0 = input
    qtbot.keyClick(w.view, Qt.Key.Key_B)
    qtbot.waitUntil(lambda: w.shown.image.width() == 128, timeout=WAIT)  # original | stylized
    qtbot.keyClick(w.view, Qt.Key.Key_F1)
    assert w.view.help_visible
    qtbot.keyClick(w.view, Qt.Key.Key_Escape)  # closes the help first
    assert not w.view.help_visible and w.isVisible()
    qtbot.keyClick(w.view, Qt.Key.Key_C)
    qtbot.keyClick(w.view, Qt.Key.Key_R)  # native is last: R wraps round to auto, then 240p
    assert w.worker.settings().preserve_color and w.worker.settings().resolution == AUTO
    qtbot.keyClick(w.view, Qt.Key.Key_R)
    assert w.worker.settings().resolution == 240
    qtbot.keyClick(w.view, Qt.Key.Key_F)
    qtbot.waitUntil(w.isFullScreen, timeout=WAIT)
    assert w.panel.isHidden()
    qtbot.keyClick(w.view, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not w.isFullScreen(), timeout=WAIT)
    assert w.panel.isVisible() and w.isVisible()


def test_snapshot_writes_png(qtbot, open_window, clip):
    w = open_window(clip)
    frames_after(qtbot, w, 1)
    with qtbot.waitSignal(w.worker.snapshotSaved, timeout=WAIT) as saved:
        qtbot.keyClick(w.view, Qt.Key.Key_S)
    frame, alpha = read_image(saved.args[0])
    assert saved.args[0].endswith(".png") and frame.shape == (48, 64, 3) and alpha is None


def test_record_writes_mp4(qtbot, open_window, clip, tmp_path):
    w = open_window(clip)
    frames_after(qtbot, w, 1)
    with qtbot.waitSignal(w.worker.recordingChanged, timeout=WAIT) as started:
        qtbot.keyClick(w.view, Qt.Key.Key_V)
    assert started.args[0] is True and w.panel.record.isChecked()
    path = started.args[1]
    frames_after(qtbot, w, 8)
    with qtbot.waitSignal(w.worker.recordingChanged, timeout=WAIT) as stopped:
        qtbot.keyClick(w.view, Qt.Key.Key_V)
    assert stopped.args[0] is False and "saved" in stopped.args[1]
    with open_media(path) as src:
        decoded = [(f, s) for f, s in src]
    assert len(decoded) > 0 and decoded[0][0].shape == (48, 64, 3)
    times = [s.time for _, s in decoded]
    assert times[0] == 0 and all(b > a for a, b in zip(times, times[1:]))
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]  # the temp file was renamed


def test_missing_camera_shows_error_then_other_source(qtbot, open_window, clip):
    w = open_window(97)
    qtbot.waitUntil(lambda: "camera 97" in (w.view.message or ""), timeout=WAIT)
    assert "camera 97" in w.statusBar().currentMessage()
    assert w.worker.isRunning()
    w.set_source(clip)  # what the source menu does
    frames_after(qtbot, w, 2)
    assert w.view.message is None


class DyingCamera:
    """A VideoCapture that delivers a few 48x64 frames, then nothing (unplugged)."""

    def __init__(self, index):
        self.left = 4

    def isOpened(self):
        return True

    def set(self, *a):
        return True

    def get(self, prop):
        return 0.0

    def read(self):
        self.left -= 1
        return (True, np.full((48, 64, 3), 90, np.uint8)) if self.left >= 0 else (False, None)

    def release(self):
        pass


def test_camera_unplugged_mid_stream(qtbot, open_window, monkeypatch, tmp_path):
    monkeypatch.setattr(cv2, "VideoCapture", DyingCamera)
    rec = str(tmp_path / "rec.mp4")
    w = open_window(0, record=rec)  # recording from the first frame
    qtbot.waitUntil(lambda: "stopped delivering" in (w.view.message or ""), timeout=WAIT)
    assert w.frames_shown >= 1 and w.worker.isRunning()
    qtbot.waitUntil(lambda: not w.panel.record.isChecked(), timeout=WAIT)
    assert w.worker.settings().record is None  # not restarted into the same file by the next source
    with open_media(rec) as src:  # what was recorded before the camera died is kept
        assert src.info.width == 64 and len(list(src)) >= 1


def test_close_joins_worker(qtbot, open_window, clip):
    w = open_window(clip)
    frames_after(qtbot, w, 1)
    w.close()
    assert w.worker.isFinished()


def test_register_adds_gui_and_webcam():
    import argparse
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["webcam", "--camera", "2", "--style", "x"])
    assert args.camera == 2 and args.style == "x" and callable(args.func)
    args = parser.parse_args(["gui", "--source", "clip.mp4", "--resolution", "360p"])
    assert args.source == "clip.mp4" and args.func is parser.parse_args(["webcam"]).func


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["--source", str(tmp_path / "nope.mp4")]) == 2
    assert main(["--style", "no_such_style_anywhere"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "nope.mp4" in err[0] and "no_such_style_anywhere" in err[1]


@pytest.fixture
def mix_style(tmp_path):
    """A tiny three-slot file ("a", "b" and the content-only "photo") whose slots really differ."""
    torch.manual_seed(7)
    net = build_net(NetConfig(widths=(4, 8, 8), blocks=1, outer_kernel=3, n_styles=3))
    with torch.no_grad():  # CIN params start equal for every slot: make each slot its own style
        for name, p in net.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + torch.randn_like(p))
            elif name.endswith("norm.bias"):
                p.copy_(torch.randn_like(p))
    return str(save_style(tmp_path / "mix.safetensors", net, "mix", styles=["a", "b", "photo"]))


def made_by(shown, style: str, blend=()) -> bool:
    """Whether this published frame is ``style`` with ``blend`` applied to its own input frame."""
    expected = Stylizer(style, StylizerOptions(device="cpu", blend=blend))(shown.frame)
    return np.abs(shown.output.astype(int) - expected).mean() < 1.0


def test_blend_sliders_for_multi_style_files(qtbot, open_window, clip, styles, mix_style, monkeypatch):
    monkeypatch.setattr(window_module, "list_styles", lambda: {"tiny_a": styles[0], "mix": mix_style})
    w = open_window(clip)
    group = w.panel.blend
    assert [w.panel.styles.item(i).text() for i in range(w.panel.styles.count())] == ["tiny_a", "mix"]
    frames_after(qtbot, w, 1)
    assert group.isHidden()  # a single-style file: no sliders
    w.pick_style(1)  # the multi-style file, listed once
    qtbot.waitUntil(lambda: group.isVisible() and w.shown.stats.style == "mix", timeout=WAIT)
    assert [name for name, _ in group.sliders] == ["a", "b"]  # no slider for "photo"
    assert [s.value() for _, s in group.sliders] == [100, 0]
    assert w.worker.settings().blend == ()
    qtbot.waitUntil(lambda: made_by(w.shown, mix_style), timeout=WAIT)  # () = the first style, "a"
    sa, sb = (s for _, s in group.sliders)
    sb.setValue(100)
    assert w.worker.settings().blend == (("a", 1.0), ("b", 1.0))
    sa.setValue(0)
    assert w.worker.settings().blend == (("a", 0.0), ("b", 1.0))
    b_only = (("b", 1.0),)
    qtbot.waitUntil(lambda: made_by(w.shown, mix_style, b_only), timeout=WAIT)
    assert not made_by(w.shown, mix_style)  # the blend changed the picture
    sb.setValue(0)  # all zero is no blend: the last valid one stays
    assert w.worker.settings().blend == (("a", 0.0), ("b", 1.0))
    frames_after(qtbot, w, 3)  # frames keep coming
    assert made_by(w.shown, mix_style, b_only)
    w.pick_style(0)  # back to a single-style file: blend reset, sliders gone
    assert w.worker.settings().blend == () and group.isHidden()
    qtbot.waitUntil(lambda: w.shown.stats.style == "tiny_a", timeout=WAIT)
    frames_after(qtbot, w, 1)
    assert group.isHidden()


def test_invalid_blend_is_reset_not_fatal(qtbot, open_window, clip, mix_style):
    w = open_window(clip)
    w.add_style_file(mix_style)
    qtbot.waitUntil(lambda: w.panel.blend.isVisible(), timeout=WAIT)
    with qtbot.waitSignal(w.worker.message, timeout=WAIT) as msg:
        w.worker.update(blend=(("no_such_style", 1.0),))
    assert "no_such_style" in msg.args[0]
    assert w.worker.settings().blend == ()
    frames_after(qtbot, w, 2)
    assert w.worker.isRunning() and made_by(w.shown, mix_style)
