"""Live sources: file loop, OpenCV camera (a fake VideoCapture stands in for hardware), and the
latest-frame holder."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from fstvideo import MediaError
from fstvideo.capture import MICROSECONDS, CameraSource, FileLoop, LatestFrame
from fstvideo.media import open_media


class FakeCapture:
    """cv2.VideoCapture look-alike: ``frames`` BGR images, then failing reads (unplugged)."""

    def __init__(self, index, opened=True, frames=3):
        self.opened, self.left, self.released = opened, frames, False

    def isOpened(self):
        return self.opened

    def set(self, prop, value):
        return True

    def get(self, prop):
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        bgr = np.zeros((6, 8, 3), np.uint8)
        bgr[..., 0] = 255     # blue in OpenCV's order
        bgr[:, 0, 1] = 200    # green left column, to see mirroring
        return True, bgr

    def release(self):
        self.released = True


def fake(monkeypatch, **kw):
    made = []

    def factory(index):
        made.append(FakeCapture(index, **kw))
        return made[-1]
    monkeypatch.setattr(cv2, "VideoCapture", factory)
    return made


def test_file_loop_restarts_with_growing_stamps(make_clip):
    clip = make_clip(pts=[i * 50 for i in range(5)])  # 5 frames, 20 fps
    with open_media(clip) as src:
        first = [f for f, _ in src]
    loop = FileLoop(clip, pace=False)
    got = []
    for frame, stamp in loop:
        got.append((frame, stamp))
        if len(got) == 12:
            break
    loop.close()
    assert loop.info.width == 64 and loop.info.height == 48
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f, _ in got)
    np.testing.assert_array_equal(got[5][0], first[0])  # the file started again
    np.testing.assert_array_equal(got[11][0], first[1])
    pts = [s.pts for _, s in got]
    assert all(s.time_base == MICROSECONDS for _, s in got)
    assert pts[:5] == [0, 50_000, 100_000, 150_000, 200_000]  # the file's own timing
    assert all(b > a for a, b in zip(pts, pts[1:]))             # continued over the loop
    assert pts[10] - pts[5] == pts[5] - pts[0]                  # every loop lasts as long


def test_file_loop_missing_file(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        FileLoop(tmp_path / "nope.mp4")


def test_missing_camera_is_a_media_error():
    with pytest.raises(MediaError, match="camera 97"):
        CameraSource(97)


def test_camera_converts_bgr_to_rgb_and_mirrors(monkeypatch):
    fake(monkeypatch, frames=3)
    cam = CameraSource(0)
    assert (cam.info.width, cam.info.height, cam.info.fps) == (8, 6, 30.0)
    it = iter(cam)
    frame, stamp = next(it)
    assert frame.shape == (6, 8, 3) and frame.flags.c_contiguous
    assert (frame[..., 2] == 255).all() and (frame[..., 0] == 0).all()  # blue is the last RGB channel
    assert frame[0, 0, 1] == 200 and frame[0, -1, 1] == 0
    assert stamp.time_base == MICROSECONDS and stamp.pts >= 0
    cam.mirror = True  # applies from the next frame
    frame, _ = next(it)
    assert frame[0, -1, 1] == 200 and frame[0, 0, 1] == 0
    cam.close()


def test_camera_unplugged_mid_stream(monkeypatch):
    made = fake(monkeypatch, frames=2)
    cam = CameraSource(1, failures=3)
    with pytest.raises(MediaError, match="camera 1: stopped delivering"):
        for _ in cam:
            pass
    assert made[0].released


def test_camera_busy(monkeypatch):
    fake(monkeypatch, frames=0)
    with pytest.raises(MediaError, match="delivers no frames"):
        CameraSource(0)
    fake(monkeypatch, opened=False)
    with pytest.raises(MediaError, match="not found or busy"):
        CameraSource(0)


class Burst:
    """A source that yields ``n`` numbered frames at once, then raises ``error`` (or ends)."""

    def __init__(self, n, error=None):
        self.n, self.error, self.closed = n, error, False

    def __iter__(self):
        for i in range(self.n):
            yield np.full((2, 2, 3), i, np.uint8), i
        if self.error:
            raise self.error

    def close(self):
        self.closed = True


def _wait_ended(feed):
    deadline = time.monotonic() + 10
    while not feed.ended and time.monotonic() < deadline:
        time.sleep(0.01)
    assert feed.ended


def test_latest_frame_keeps_only_the_newest():
    feed = LatestFrame(Burst(5))
    _wait_ended(feed)
    frame, stamp, t = feed.take()
    assert stamp == 4 and frame[0, 0, 0] == 4
    assert feed.dropped == 4
    assert feed.take(0.01) is None  # nothing new
    assert feed.error is None
    feed.close()
    assert feed.source.closed


def test_latest_frame_hands_over_source_errors():
    feed = LatestFrame(Burst(1, MediaError("camera 0: stopped delivering frames (unplugged?)")))
    _wait_ended(feed)
    assert isinstance(feed.error, MediaError) and "unplugged" in str(feed.error)
    feed = LatestFrame(Burst(0, RuntimeError("driver crash")))
    _wait_ended(feed)
    assert isinstance(feed.error, MediaError) and "driver crash" in str(feed.error)
