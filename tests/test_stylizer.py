import numpy as np
import pytest
import torch

from fstvideo import NetConfig, OptionsError, build_net, save_style
from fstvideo.stylizer import Stylizer, StylizerOptions

TINY = NetConfig(widths=(8, 16, 16), blocks=1)


@pytest.fixture(scope="module")
def style_path(tmp_path_factory):
    torch.manual_seed(0)
    return save_style(tmp_path_factory.mktemp("s") / "tiny.safetensors", build_net(TINY), "tiny")


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (17, 33), (31, 8), (64, 48)])
def test_any_size_in_same_size_out(style_path, shape):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    before = frame.copy()
    out = Stylizer(style_path)(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.array_equal(frame, before)  # input untouched


def test_batch_equals_single(style_path):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (24, 40, 3), dtype=np.uint8) for _ in range(3)]
    frames.append(rng.integers(0, 256, (13, 9, 3), dtype=np.uint8))  # a different size in the batch
    s = Stylizer(style_path)
    batched = s.batch(frames)
    for f, b in zip(frames, batched):
        assert np.abs(s(f).astype(int) - b.astype(int)).max() <= 1


def test_strength_zero_is_identity_and_one_is_full(style_path):
    frame = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert np.array_equal(Stylizer(style_path, StylizerOptions(strength=0.0))(frame), frame)
    full = Stylizer(style_path)(frame)
    half = Stylizer(style_path, StylizerOptions(strength=0.5))(frame).astype(int)
    assert np.abs(half - (full.astype(int) + frame) / 2).max() <= 1


def test_preserve_color_keeps_chroma(style_path):
    import cv2
    frame = np.random.default_rng(3).integers(30, 220, (32, 32, 3), dtype=np.uint8)
    out = Stylizer(style_path, StylizerOptions(preserve_color=True))(frame)
    full = Stylizer(style_path)(frame)
    ycc_in = cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb).astype(int)
    ycc_out = cv2.cvtColor(out, cv2.COLOR_RGB2YCrCb).astype(int)
    ycc_full = cv2.cvtColor(full, cv2.COLOR_RGB2YCrCb).astype(int)
    unclipped = (out > 0).all(-1) & (out < 255).all(-1)
    assert np.abs(ycc_out[..., 1:] - ycc_in[..., 1:])[unclipped].max() <= 2
    assert np.abs(ycc_out[..., 0] - ycc_full[..., 0])[unclipped].max() <= 2


def test_max_size_returns_input_size(style_path):
    frame = np.random.default_rng(4).integers(0, 256, (90, 160, 3), dtype=np.uint8)
    out = Stylizer(style_path, StylizerOptions(max_size=40))(frame)
    assert out.shape == frame.shape


def test_options_validated():
    with pytest.raises(OptionsError):
        StylizerOptions(strength=1.5).validate()
    with pytest.raises(OptionsError):
        StylizerOptions(precision="int3").validate()


def test_precision_paths_close_to_fp32(style_path):
    """bf16 is the CPU half-precision path and fp16 the CUDA one: same code, close output."""
    frame = np.random.default_rng(5).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    ref = Stylizer(style_path)(frame).astype(int)
    bf16 = Stylizer(style_path, StylizerOptions(precision="bf16"))(frame).astype(int)
    assert np.abs(ref - bf16).mean() < 6


def test_cuda_request_without_gpu_is_a_clear_error(style_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(OptionsError, match="CUDA"):
        Stylizer(style_path, StylizerOptions(device="cuda"))


def test_guided_upsample_known_answers():
    from fstvideo.guided import guided_upsample
    hi = torch.rand(1, 3, 40, 60)
    lo = torch.nn.functional.interpolate(hi, size=(20, 30), mode="bilinear", antialias=True, align_corners=False)
    const = torch.full((1, 3, 20, 30), 0.3)
    assert torch.allclose(guided_upsample(const, lo, hi), torch.full((1, 3, 40, 60), 0.3), atol=1e-5)
    # The low-res guide itself comes back as (nearly) the high-res guide's luminance structure:
    grey = (lo * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True).repeat(1, 3, 1, 1)
    up = guided_upsample(grey, lo, hi, eps=1e-6)
    g_hi = (hi * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True).repeat(1, 3, 1, 1)
    assert (up - g_hi).abs().mean() < 0.02


def test_guided_and_area_resize_opencv_paths_match_torch_paths():
    # CPU inference goes through OpenCV (HxWxC arrays); training/CUDA through torch ops (float64
    # here forces the torch path): the same answers.
    from fstvideo.guided import box, guided_upsample, resize_area
    g = torch.Generator().manual_seed(0)
    hi = torch.rand(2, 3, 40, 60, generator=g)
    lo = resize_area(hi, (20, 30))
    assert torch.allclose(lo, resize_area(hi.double(), (20, 30)).float(), atol=1e-5)
    assert torch.allclose(lo[0, :, 0, 0], hi[0, :, :2, :2].mean((1, 2)), atol=1e-5)  # 2x2 pixel average
    out = torch.rand(2, 3, 20, 30, generator=g)
    ref = guided_upsample(out.double(), lo.double(), hi.double()).float()
    assert torch.allclose(guided_upsample(out, lo, hi), ref, atol=1e-4)
    assert torch.allclose(box(torch.full((1, 3, 9, 9), 0.7), 3), torch.full((1, 3, 9, 9), 0.7), atol=1e-6)
    # With a gradient to carry (training through the fast path) the torch path runs: it flows.
    out.requires_grad_(True)
    guided_upsample(out, lo, hi).sum().backward()
    assert out.grad is not None and out.grad.abs().sum() > 0


def test_quality_bench_at_scale_runs_the_fast_path():
    # bench quality --scale 0.5 scores what convert --scale 0.5 shows: net at half size, guided back.
    from fstvideo.bench.quality import at_scale
    seen = []

    def net(x):
        seen.append(tuple(x.shape[-2:]))
        return x
    # Grey and smooth: the guided filter models each channel as a*luma+b, exact for a grey image.
    photo = torch.nn.functional.interpolate(torch.rand(1, 1, 12, 16), size=(48, 64), mode="bilinear").repeat(1, 3, 1, 1)
    assert at_scale(net, 1.0) is net
    out = at_scale(net, 0.5)(photo)
    assert seen == [(24, 32)] and out.shape == photo.shape
    assert (out - photo).abs().mean() < 0.02  # identity net: the photo comes back


def test_half_scale_guided_returns_input_size(style_path):
    frame = np.random.default_rng(6).integers(0, 256, (61, 83, 3), dtype=np.uint8)
    for up in ("guided", "bilinear"):
        out = Stylizer(style_path, StylizerOptions(scale=0.5, upsample=up))(frame)
        assert out.shape == frame.shape


def test_compiled_close_to_eager(style_path):
    frame = np.random.default_rng(7).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    ref = Stylizer(style_path)(frame).astype(int)
    compiled = Stylizer(style_path, StylizerOptions(compile=True))
    assert np.abs(compiled(frame).astype(int) - ref).max() <= 1
    crop = np.ascontiguousarray(frame[:16, :12])  # a new size: compiled again, still the same result
    assert np.abs(compiled(crop).astype(int) - Stylizer(style_path)(crop).astype(int)).max() <= 1
