"""Flow, warping, occlusion masks, the warping-error metric and the runtime Smoother.

A stand-in stylizer (a deterministic colour/blur transform plus seeded per-frame noise, the
flicker) replaces the net: the tests check temporal behaviour, not style."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fstvideo.bench.flicker import moving, trail
from fstvideo.bench.frontier import plot_frontier
from fstvideo.bench.temporal import TemporalBenchOptions, ema, evaluate, flow_pairs, sweep, warping_error
from fstvideo.errors import OptionsError
from fstvideo.flow import FlowEstimator, consistent, flows, gray, resize_flow, warp
from fstvideo.temporal import Smoother, SmoothOptions
from fstvideo.texture import restore_contrast, unblur, unblur_taps

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def texture(h: int = 160, w: int = 220, seed: int = 0) -> np.ndarray:
    """A real photo when /work/shared is present (flow needs texture), else smoothed noise."""
    photos = sorted((SHARED / "photos").glob("*.jpg"))
    if photos:
        im = cv2.cvtColor(cv2.imread(str(photos[seed % len(photos)])), cv2.COLOR_BGR2RGB)
        return np.ascontiguousarray(cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA))
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2.0)


def need_photos() -> None:
    """DIS flow needs real texture; smoothed noise is too weak for these two tests."""
    if not sorted((SHARED / "photos").glob("*.jpg")):
        pytest.skip("../shared/photos not present")


def pan(n: int = 8, h: int = 96, w: int = 128, step: tuple[int, int] = (2, 1), seed: int = 0) -> list[np.ndarray]:
    """A moving-camera clip: shifted crops of one photo, ``step`` = (dx, dy) px per frame."""
    big = texture(h + n * step[1] + 4, w + n * step[0] + 4, seed)
    return [np.ascontiguousarray(big[i * step[1]:i * step[1] + h, i * step[0]:i * step[0] + w]) for i in range(n)]


def stylize(frame: np.ndarray, flicker: float = 0.0, seed: int = 0) -> np.ndarray:
    """Stand-in stylizer: colour rotation + blur (deterministic), plus N(0, flicker^2) noise."""
    y = cv2.GaussianBlur(frame[..., ::-1], (5, 5), 0).astype(np.float32) * 0.8 + 30
    if flicker:
        y += np.random.default_rng(seed).normal(0, flicker, y.shape)
    return np.clip(y + 0.5, 0, 255).astype(np.uint8)


# -- flow and warping ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 7, 3), (17, 31, 3), (48, 64, 3), (9, 13)])
def test_warp_by_zero_flow_is_identity(shape):
    rng = np.random.default_rng(0)
    for img in (rng.integers(0, 256, shape, dtype=np.uint8), rng.random(shape, dtype=np.float32)):
        out = warp(img, np.zeros(shape[:2] + (2,), np.float32))
        assert out.dtype == img.dtype and np.array_equal(out, img)


def test_warp_integer_shift_known_answer():
    img = texture(40, 60)
    flow = np.zeros((40, 60, 2), np.float32)
    flow[..., 0], flow[..., 1] = 3, -2  # out(x, y) = img(x + 3, y - 2)
    out = warp(img, flow)
    assert np.array_equal(out[2:, :-3], img[:-2, 3:])


def test_dis_flow_recovers_a_camera_shift():
    prev, cur = pan(2, step=(3, 1))  # cur(x) = prev(x + (3, 1))
    back, fwd = flows(FlowEstimator("medium"), gray(prev), gray(cur))
    assert np.allclose(np.median(back.reshape(-1, 2), 0), (3, 1), atol=0.25)
    assert np.allclose(np.median(fwd.reshape(-1, 2), 0), (-3, -1), atol=0.25)
    up = resize_flow(back, (192, 256))  # twice the size: twice the displacement
    assert np.allclose(np.median(up.reshape(-1, 2), 0), (6, 2), atol=0.5)


def _square_clip(shift: int = 8):
    """Static textured background, a textured square (another photo, inverted) moving ``shift``
    px right; (prev, cur, uncovered). Flow needs texture: a flat square cannot be tracked."""
    bg = texture(80, 120, seed=3)
    square = 255 - texture(24, 24, seed=10)
    prev, cur = bg.copy(), bg.copy()
    prev[30:54, 40:64] = square
    cur[30:54, 40 + shift:64 + shift] = square
    uncovered = np.zeros((80, 120), bool)
    uncovered[30:54, 40:40 + shift] = True  # background in cur that the square hid in prev
    return prev, cur, uncovered


def test_occlusion_mask_known_flows():
    _, _, uncovered = _square_clip()
    back = np.zeros((80, 120, 2), np.float32)
    fwd = np.zeros((80, 120, 2), np.float32)
    back[30:54, 48:72, 0] = -8  # square pixels in cur come from 8 px to the left
    fwd[30:54, 40:64, 0] = 8
    ok = consistent(back, fwd)
    assert not ok[uncovered].any()
    assert ok[~uncovered].all()


def test_occlusion_mask_flags_uncovered_region_with_dis():
    need_photos()
    prev, cur, uncovered = _square_clip()
    back, fwd = flows(FlowEstimator("medium"), gray(prev), gray(cur))
    ok = consistent(back, fwd)
    far = np.ones_like(uncovered)
    far[20:64, 30:82] = False  # background well away from the square
    assert (~ok[uncovered]).mean() > 0.5
    assert ok[far].mean() > 0.95


def test_occlusion_mask_flags_pixels_entering_the_frame():
    back = np.zeros((20, 30, 2), np.float32)
    back[..., 0] = 4  # camera moved: the right 4 columns of frame t were outside frame t-1
    fwd = -back
    ok = consistent(back, fwd)
    assert ok[:, :25].all() and not ok[:, 27:].any()


# -- the metric ------------------------------------------------------------------------------------
def test_warping_error_is_zero_for_identical_static_output():
    frames = [texture(72, 96)] * 5
    outs = [stylize(f) for f in frames]
    assert warping_error(outs, flow_pairs(frames)) == 0.0


def test_warping_error_grows_with_flicker():
    frames = pan(6)
    pairs = flow_pairs(frames)
    errors = [warping_error([stylize(f, a, seed=i) for i, f in enumerate(frames)], pairs)
              for a in (0.0, 2.0, 5.0, 10.0, 20.0)]
    assert errors[0] < 2e-4  # a consistent stylizer on a pan: only interpolation error
    assert all(a < b for a, b in zip(errors, errors[1:])), errors


def test_warping_error_skips_scene_cuts():
    a, b = pan(3, seed=0), pan(3, seed=7)
    frames = a + b
    pairs = flow_pairs(frames)
    assert [t for t, (_, m) in enumerate(pairs, start=1) if not m.any()] == [3]
    outs = [stylize(f) for f in frames]
    assert warping_error(outs, pairs) < 2e-4  # the cut's huge difference is not counted


def test_ema_known_answer():
    a, b = np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 100, np.uint8)
    out = ema([a, b, b], 0.5)
    assert [int(o[0, 0, 0]) for o in out] == [0, 50, 75]


def test_evaluate_rows_and_smoothing_target():
    """On a moving camera with flicker, flow-guided smoothing at least halves E_warp and beats the
    EMA that achieves less."""
    frames = pan(10)
    stylized = [stylize(f, 8.0, seed=i) for i, f in enumerate(frames)]
    default = SmoothOptions.strength
    result = evaluate(frames, stylized, sweep((0.5, 0.8), (default,)), meter=None)
    rows = {(r["method"], r["strength"]): r for r in result["rows"]}
    assert list(rows) == [("per-frame", 0.0), ("ema", 0.5), ("ema", 0.8), ("smoother", default)]
    assert rows["per-frame", 0.0]["diff_to_per_frame"] == 0.0 and rows["per-frame", 0.0]["trail"] == 0.0
    assert rows["smoother", default]["default"] and not rows["ema", 0.8]["default"]
    assert rows["smoother", default]["e_warp"] < 0.5 * rows["per-frame", 0.0]["e_warp"]
    assert rows["smoother", default]["e_warp"] < rows["ema", 0.8]["e_warp"]


def test_sweep_gives_one_row_per_strength_and_adds_the_default():
    frames = pan(4)
    stylized = [stylize(f, 4.0, seed=i) for i, f in enumerate(frames)]
    default = SmoothOptions.strength
    result = evaluate(frames, stylized, sweep((0.2, 0.6, 0.9), (0.3, 0.6)), meter=None)
    assert [(r["method"], r["strength"]) for r in result["rows"]] == [
        ("per-frame", 0.0), ("ema", 0.2), ("ema", 0.6), ("ema", 0.9),
        ("smoother", 0.3), ("smoother", 0.6), ("smoother", default)]
    assert [r["default"] for r in result["rows"]] == [False] * 6 + [True]
    for r in result["rows"]:
        assert r["e_warp"] >= 0 and r["e_warp_moving"] >= 0 and 0 <= r["trail"] <= 1
        assert r["style_loss"] is None and r["style_vs_per_frame"] is None


def test_moving_mask_is_relative_to_the_camera():
    """A pan moves every pixel; only what moves against the median flow is a moving object."""
    back = np.zeros((20, 30, 2), np.float32)
    back[..., 0] = 3.0           # the camera
    back[5:10, 5:10, 0] = -2.0   # an object moving the other way
    mask = np.ones((20, 30), bool)
    [(_, mov)] = moving([(back, mask)], 1.0)
    assert mov[5:10, 5:10].all() and mov.sum() == 25
    assert not moving([(back, np.zeros_like(mask))], 1.0)[0][1].any()  # a cut stays empty


def test_trail_counts_only_moving_and_occluded_pixels():
    stylized = [np.full((4, 6, 3), 100, np.uint8)] * 2
    outs = [stylized[0], stylized[1].copy()]
    outs[1][0, 0] = 151          # an occluded pixel that kept the old colour
    outs[1][3, 5] = 200          # a reliable, still pixel: not a trail
    back = np.zeros((4, 6, 2), np.float32)
    mask = np.ones((4, 6), bool)
    mask[0, :2] = False          # two occluded pixels
    pairs = [(back, mask)]
    assert trail(outs, stylized, pairs, moving(pairs)) == pytest.approx(51 / 2 / 255)


def test_frontier_png_is_written(tmp_path):
    rows = [{"method": "per-frame", "strength": 0.0, "e_warp": 0.01, "style_vs_per_frame": 1.0,
             "diff_to_per_frame": 0.0}]
    rows += [{"method": m, "strength": s, "e_warp": 0.01 * (1 - s * k), "style_vs_per_frame": 1 + s * k,
              "diff_to_per_frame": 0.01 * s, "default": m == "smoother" and s == 0.8}
             for m, k in (("ema", 0.5), ("smoother", 0.8)) for s in (0.4, 0.8)]
    result = {"clip": "walk.mp4", "frames": 5, "size": [48, 64], "style": "x", "rows": rows}
    path = plot_frontier(result, tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for r in rows:  # no style loss (no VGG16 weights): the plot falls back to the difference axis
        r["style_vs_per_frame"] = None
    assert plot_frontier(result, tmp_path / "g.png").stat().st_size > 1000


# -- the smoother ------------------------------------------------------------------------------------
def test_smoother_converges_on_a_static_scene():
    frame = texture(72, 96)
    s = Smoother(SmoothOptions(strength=0.8))
    outs = [s(frame, stylize(frame, 6.0, seed=i)) for i in range(30)]
    steps = [np.abs(a.astype(np.float32) - b).mean() for a, b in zip(outs, outs[1:])]
    raw = np.abs(stylize(frame, 6.0, 1).astype(np.float32) - stylize(frame, 6.0, 2)).mean()
    assert np.mean(steps[-10:]) < 0.35 * raw  # flicker mostly gone
    clean = stylize(frame)
    assert np.abs(outs[-1].astype(np.float32) - clean).mean() < 2.5  # converged near the noise-free output
    s.reset()
    outs = [s(frame, clean) for _ in range(5)]  # no flicker: stays exactly the stylized frame
    assert all(np.array_equal(o, clean) for o in outs)


def noisy(frame: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """``frame`` plus N(0, sigma^2) sensor noise: a still camera's frames are never identical."""
    n = np.random.default_rng(seed).normal(0, sigma, frame.shape)
    return np.clip(frame + n + 0.5, 0, 255).astype(np.uint8)


def test_still_camera_output_equals_per_frame():
    """A still camera (sensor noise only) and a stylizer that paints the same frame every time:
    the output is that frame exactly, every frame. The noise makes DIS report sub-pixel flows;
    warping by them would resample the previous output (a blur) every frame."""
    frame = texture(72, 96)
    clean = stylize(frame)
    s = Smoother()
    outs = [s(noisy(frame, 2.0, i), clean) for i in range(12)]
    assert all(np.array_equal(o, clean) for o in outs)
    s = Smoother(SmoothOptions(still_px=0.0))  # always warp: the same frames come out resampled
    assert not all(np.array_equal(s(noisy(frame, 2.0, i), clean), clean) for i in range(12))


def test_output_converges_to_per_frame_once_flicker_stops():
    frame = texture(72, 96)
    clean = stylize(frame)
    s = Smoother(SmoothOptions(strength=0.8))
    for i in range(10):
        s(noisy(frame, 1.0, i), stylize(frame, 8.0, seed=i))
    outs = [s(noisy(frame, 1.0, 100 + i), clean) for i in range(40)]
    errors = [np.abs(o.astype(np.float32) - clean).mean() for o in outs]
    assert errors[0] > 1.0 and errors[-1] < 0.05  # 0.8^40: the flicker is forgotten
    assert all(a >= b for a, b in zip(errors, errors[1:]))


def test_scene_cut_resets():
    need_photos()
    a, b = pan(6, seed=0), pan(3, seed=7)
    s = Smoother()
    for i, f in enumerate(a):
        s(f, stylize(f, 5.0, seed=i))
    assert not s.last_cut
    styled = stylize(b[0], 5.0, seed=99)
    assert np.array_equal(s(b[0], styled), styled)
    assert s.last_cut
    s.reset()
    assert np.array_equal(s(b[1], stylize(b[1])), stylize(b[1]))  # first frame after reset()


def test_moving_object_does_not_ghost():
    prev, cur, uncovered = _square_clip()
    s = Smoother(SmoothOptions(strength=0.9))
    for _ in range(4):
        s(prev, stylize(prev))
    out = s(cur, stylize(cur)).astype(np.float32)
    ghost = np.abs(out - stylize(cur))[uncovered].mean()
    assert ghost < 6, ghost  # the old square's colours would differ by ~100


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (17, 31), (33, 2), (101, 67), (480, 250)])
def test_smoother_keeps_size_count_and_inputs(shape):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, shape + (3,), dtype=np.uint8) for _ in range(4)]
    styled = [stylize(f, 3.0, i) for i, f in enumerate(frames)]
    copies = [f.copy() for f in frames + styled]
    s = Smoother()
    outs = [s(f, y) for f, y in zip(frames, styled)]
    assert len(outs) == len(frames)
    assert all(o.shape == shape + (3,) and o.dtype == np.uint8 and o.flags.c_contiguous for o in outs)
    assert all(np.array_equal(a, b) for a, b in zip(frames + styled, copies))


def test_smoother_accepts_a_stylized_frame_of_another_size():
    frames = pan(4)
    s = Smoother()
    outs = [s(f, cv2.resize(stylize(f), (64, 48))) for f in frames]
    assert all(o.shape == (48, 64, 3) for o in outs)


def test_smooth_options_are_validated():
    for bad in ({"strength": 1.5}, {"strength": -0.1}, {"preset": "slow"}, {"flow_size": 4},
                {"color_low": 0.2, "color_high": 0.1}, {"still_px": -1.0}, {"max_gain": 0.5},
                {"unblur": -0.1}, {"unblur": 1.5}, {"still_scale": 1.5}):
        with pytest.raises(OptionsError):
            Smoother(SmoothOptions(**bad))
    s = Smoother()
    s.set_options(SmoothOptions(strength=0.0))
    f = texture(40, 50)
    s(f, stylize(f))
    assert np.array_equal(s(f, stylize(f, 5.0)), stylize(f, 5.0))  # strength 0: per-frame


def strokes(h: int, w: int, seed: int) -> np.ndarray:
    """A stand-in for a fast style's repainted strokes: pixel-scale noise, new in every frame."""
    return np.random.default_rng(seed).normal(0, 25, (h, w, 3)).astype(np.float32)


def high_energy(x: np.ndarray) -> float:
    """Mean energy of the band under ~2 px, summed over RGB."""
    x = x.astype(np.float32)
    return float(((x - cv2.GaussianBlur(x, (0, 0), 2.0)) ** 2).sum(2).mean())


def test_unblur_taps_known_answers():
    assert np.allclose(unblur_taps(0.0), [0, 1, 0]) and np.allclose(unblur_taps(3.0), [0, 1, 0])
    assert np.allclose(unblur_taps(0.5), [-0.125, 1.25, -0.125])        # 0.5 * d(1-d) = 0.125
    assert np.allclose(unblur_taps(-1.25), unblur_taps(0.75))          # the part after the point
    assert np.allclose(unblur_taps(0.3, 1.0), [-0.21, 1.42, -0.21])


def test_unblur_undoes_bilinear_resampling():
    """Half a pixel of bilinear shift blurs fine texture; unblur brings it closer to the exact
    shift (every second column of a band-limited texture twice as wide) and leaves integer
    shifts alone."""
    noise = np.random.default_rng(0).normal(128, 60, (80, 200, 3)).astype(np.float32)
    big = cv2.GaussianBlur(noise, (0, 0), 1.5)                        # 0.75 px blur once halved
    exact = np.ascontiguousarray(big[:, 1::2])                        # 80x100: columns 1, 3, ...
    coarse = np.ascontiguousarray(big[:, 0::2])                       # columns 0, 2, ...: half a px left
    flow = np.zeros((80, 100, 2), np.float32)
    flow[..., 0] = 0.5
    shifted = warp(coarse, flow)                                      # bilinear: (col 2i + col 2i+2) / 2
    sharp = unblur(shifted, (0.5, 0.0))
    inner = (slice(2, -2), slice(2, -4))
    assert np.abs(sharp - exact)[inner].mean() < 0.7 * np.abs(shifted - exact)[inner].mean()
    assert high_energy(sharp) > high_energy(shifted)
    assert unblur(shifted, (2.0, -1.0)) is shifted and unblur(shifted, (0.5, 0.5), 0.0) is shifted


def test_restore_contrast_keeps_agreeing_frames_and_restores_unrelated_ones():
    base = cv2.GaussianBlur(texture(64, 96).astype(np.float32), (0, 0), 3.0)  # the scene: no fine band
    photo = texture(64, 96).astype(np.float32)
    assert np.allclose(restore_contrast(photo.copy(), photo), photo, atol=1e-3)  # gain 1 where they agree
    styled = np.clip(base + strokes(64, 96, 1), 0, 255)
    other = np.clip(base + strokes(64, 96, 2), 0, 255)
    blend = 0.5 * styled + 0.5 * other              # two unrelated stroke patterns: contrast drops
    assert high_energy(blend) < 0.7 * high_energy(styled)
    out = restore_contrast(blend.copy(), styled)
    assert 0.85 < high_energy(out) / high_energy(styled) < 1.15
    assert np.abs(cv2.GaussianBlur(out, (0, 0), 3) - cv2.GaussianBlur(blend, (0, 0), 3)).mean() < 1.5  # colours kept
    assert out.min() >= 0 and out.max() <= 255
    assert np.array_equal(restore_contrast(blend.copy(), styled, max_gain=1.0), blend)
    tiny = np.full((1, 1, 3), 7, np.float32)                          # too small for statistics
    assert np.array_equal(restore_contrast(tiny.copy(), tiny + 3), tiny)


def test_moving_camera_keeps_the_strokes_contrast():
    """A pan whose stylizer repaints its strokes every frame: a plain flow-guided blend fades
    them; the Smoother keeps their contrast near the stylized frames' and still flickers less."""
    need_photos()
    frames = pan(12, step=(2, 1))
    styled = [np.clip(stylize(f).astype(np.float32) + strokes(*f.shape[:2], i), 0, 255).astype(np.uint8)
              for i, f in enumerate(frames)]
    pairs = flow_pairs(frames)
    base_e, base_energy = warping_error(styled, pairs), np.mean([high_energy(y) for y in styled[4:]])
    for opts, energy_range in ((SmoothOptions(), (0.8, 1.2)), (SmoothOptions(max_gain=1.0, unblur=0.0), (0.0, 0.6))):
        s = Smoother(opts)
        outs = [s(f, y) for f, y in zip(frames, styled)]
        ratio = np.mean([high_energy(o) for o in outs[4:]]) / base_energy
        assert energy_range[0] < ratio < energy_range[1], (opts, ratio)
        assert warping_error(outs, pairs) < 0.8 * base_e


def test_still_camera_skips_the_texture_corrections():
    """A still camera copies its background: the strokes are the stylized frame's own, nothing
    is sharpened or rescaled, and a static scene converges to the stylized frame."""
    frame = texture(72, 96)
    clean = stylize(frame)
    s = Smoother(SmoothOptions(max_gain=4.0, unblur=1.0))
    outs = [s(noisy(frame, 2.0, i), clean) for i in range(8)]
    assert all(np.array_equal(o, clean) for o in outs)


def test_scene_cut_resets_with_texture_state():
    need_photos()
    a, b = pan(6, seed=0), pan(3, seed=7)
    s = Smoother()
    for i, f in enumerate(a):
        s(f, np.clip(stylize(f).astype(np.float32) + strokes(*f.shape[:2], i), 0, 255).astype(np.uint8))
    styled = stylize(b[0], 5.0, seed=99)
    assert np.array_equal(s(b[0], styled), styled) and s.last_cut


# -- the command ------------------------------------------------------------------------------------
@pytest.fixture
def random_style(tmp_path):
    import torch

    from fstvideo.model import NetConfig, build_net
    from fstvideo.styles import save_style
    torch.manual_seed(0)
    net = build_net(NetConfig(widths=(8, 16, 16), blocks=1, outer_kernel=3))
    painting = SHARED / "styles" / "starry_night.jpg"
    return save_style(tmp_path / "tiny.safetensors", net, "tiny",
                      training={"config": {"styles": [str(painting)], "style_size": 64}})


def test_bench_temporal_command(make_clip, random_style, tmp_path, capsys):
    from fstvideo.cli import main
    clip = make_clip("pan.mp4", pts=[i * 40 for i in range(5)])
    save = tmp_path / "bench" / "t.txt"
    rc = main(["bench", "temporal", str(clip), "--style", str(random_style), "--json", "--size", "64",
               "--style-frames", "2", "--device", "cpu", "--save", str(save)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["frames"] == 5 and out["clip"] == str(clip)
    methods = [(r["method"], r["strength"]) for r in out["rows"]]
    assert methods[0] == ("per-frame", 0.0)
    assert [s for m, s in methods if m == "ema"] == list(TemporalBenchOptions.ema)
    assert [s for m, s in methods if m == "smoother"] == sorted({*TemporalBenchOptions.smooth, SmoothOptions.strength})
    for r in out["rows"]:
        assert r["e_warp"] >= 0 and r["diff_to_per_frame"] >= 0 and r["e_warp_moving"] >= 0
        assert r["style_loss"] is None or r["style_loss"] > 0
    assert out["rows"][0]["style_loss"] is not None or out["note"]
    assert "E_warp" in save.read_text()
    assert json.loads(save.with_suffix(".json").read_text())["rows"] == out["rows"]
    assert save.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_bench_temporal_needs_two_frames(random_style, tmp_path, capsys):
    from fstvideo.cli import main
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), texture(32, 32))
    assert main(["bench", "temporal", str(still), "--style", str(random_style), "--save",
                 str(tmp_path / "t.txt")]) == 2
    assert "at least 2 frames" in capsys.readouterr().err
