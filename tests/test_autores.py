"""The window's auto processing resolution (fstvideo.gui.autores): pure logic fed synthetic
stylize times, so these are deterministic and need neither Qt nor a clock."""
from __future__ import annotations

import argparse

import pytest

from fstvideo.gui.autores import DEFAULT_FPS, HEIGHTS, AutoResolution
from fstvideo.gui.settings import AUTO, RESOLUTIONS, Settings

FPS = 30.0
BUDGET = 0.8 / FPS  # s: the default fraction of a 30 fps frame interval, computed as AutoResolution does


def net(at_240: float):
    """A fully convolutional net's stylize time (s) at a processing height: per pixel."""
    return lambda h: at_240 * (h / 240) ** 2


def run(auto: AutoResolution, time_at, frames: int, fps: float | None = FPS, source: int | None = 720) -> list[int]:
    """Feed ``frames`` frames, each timed at the height it was processed at; the heights used."""
    used = []
    for _ in range(frames):
        h = auto.height
        used.append(h)
        auto.update(time_at(min(h, source) if source else h), fps, source)
    return used


def test_fast_net_climbs_to_480_and_stays():
    auto = AutoResolution()
    used = run(auto, net(0.002), 300)  # 2 ms at 240p: 480p takes 8 ms of a 26.7 ms budget
    assert used[0] == 240 and auto.height == 480 and auto.changes == 2
    assert used.index(360) >= auto.settle and used.index(480) - used.index(360) >= auto.settle  # waited
    assert used[-200:] == [480] * 200


def test_slow_net_drops_to_240():
    auto = AutoResolution()
    run(auto, net(0.002), 100)
    assert auto.height == 480
    used = run(auto, net(0.020), 100)  # now 20 ms at 240p (smoothing on, a busy machine): 480p takes 80 ms
    assert used[-50:] == [240] * 50
    assert 360 not in used  # 360p (45 ms) does not fit either: straight down, no stop on the way
    assert auto.changes == 3


def test_step_down_goes_to_the_highest_height_that_fits():
    auto = AutoResolution()
    run(auto, net(0.002), 100)
    used = run(auto, net(0.008), 100)  # 32 ms at 480p > budget; 18 ms at 360p fits
    assert used[-50:] == [360] * 50


def test_time_exactly_at_budget_stays():
    auto = AutoResolution()
    run(auto, net(0.002), 100)
    used = run(auto, lambda h: BUDGET, 500)  # exactly on the edge at 480p: not over it
    assert used == [480] * 500
    changes = auto.changes
    used = run(auto, lambda h: BUDGET * (h / 480) ** 2 * 1.01, 500)  # just over: one step down ...
    assert used[-400:] == [360] * 400 and auto.changes == changes + 1  # ... and no way back up


def test_budget_edge_below_does_not_climb():
    auto = AutoResolution()
    # Exactly the budget at 360p: 240p is well under, but the estimate for 360p is not under 0.7x budget.
    used = run(auto, lambda h: BUDGET * (h / 360) ** 2, 500)
    assert used == [240] * 500 and auto.changes == 0


@pytest.mark.parametrize("at_240", [0.0005 * 1.25 ** i for i in range(25)])
def test_never_oscillates(at_240):
    """Any steady net (0.5 ms to 106 ms at 240p) settles: heights only go up, or only down."""
    auto = AutoResolution()
    used = run(auto, net(at_240), 600)
    steps = [b - a for a, b in zip(used, used[1:]) if b != a]
    assert all(s > 0 for s in steps) or all(s < 0 for s in steps)
    assert used[-300:] == [used[-1]] * 300


def test_source_height_caps_the_pick():
    auto = AutoResolution()
    used = run(auto, net(0.0001), 300, source=240)  # a 320x240 camera and a very fast net
    assert used == [240] * 300 and auto.changes == 0
    auto = AutoResolution()
    used = run(auto, net(0.0001), 300, source=400)
    assert max(used) == 360 and auto.height == 360
    auto = AutoResolution()
    assert set(run(auto, net(0.0001), 100, source=120)) == {240}  # smaller than every step: the lowest


def test_unknown_fps_means_30():
    # 5 ms at 240p: at 30 fps 360p (11 ms) is well under budget, 480p (20 ms) is not; at 60 fps neither
    expected = run(AutoResolution(), net(0.005), 200, fps=DEFAULT_FPS)
    assert expected[-1] == 360 and run(AutoResolution(), net(0.005), 200, fps=60.0)[-1] == 240
    for fps in (None, 0.0, -1.0, float("nan")):
        assert run(AutoResolution(), net(0.005), 200, fps=fps) == expected


def test_slow_first_frames_after_a_change_are_ignored():
    auto = AutoResolution()
    first = {"n": 0}

    def warming(h):  # 20x slower for the first 3 frames at each new height (buffers, kernel selection)
        first["n"] = first["n"] + 1 if h == first.get("h") else 1
        first["h"] = h
        return 0.004 * (h / 240) ** 2 * (20 if first["n"] <= 3 else 1)  # 16 ms at 480p once warm

    run(auto, warming, 200)
    assert auto.height == 480 and auto.changes == 2


def test_reset_starts_at_the_lowest_height():
    auto = AutoResolution()
    run(auto, net(0.001), 100)
    assert auto.height == HEIGHTS[-1]
    auto.reset()
    assert auto.height == HEIGHTS[0] and auto.ema is None and auto.changes == 0


def test_auto_is_the_first_resolution_and_the_cpu_default():
    from fstvideo.gui import app  # no Qt: the window's options and defaults
    assert RESOLUTIONS[0] == ("auto", AUTO) and Settings().resolution == AUTO
    p = argparse.ArgumentParser()
    app.add_arguments(p)
    assert app._settings(p.parse_args(["--device", "cpu"])).resolution == AUTO
    assert app._settings(p.parse_args(["--device", "cpu", "--resolution", "360p"])).resolution == 360
    assert app._settings(p.parse_args(["--device", "cpu", "--resolution", "auto"])).resolution == AUTO
