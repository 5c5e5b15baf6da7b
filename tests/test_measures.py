"""Known answers for the bench's image measures, the anti-blob/anti-grid training terms, the
smooth net and the stroke scale (processing size recorded in style files)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fstvideo.bench import measures as M
from fstvideo.errors import OptionsError
from fstvideo.model import NetConfig, build_net
from fstvideo.styles import load_style, processing_size, save_style
from fstvideo.stylizer import Stylizer, StylizerOptions, stroke_scale
from fstvideo.train import losses

TINY = NetConfig(widths=(4, 8, 8), blocks=1, outer_kernel=3)


def smooth_field(h=128, w=160, seed=0) -> torch.Tensor:
    """A photo-like image: white noise Gaussian-blurred at sigma 1, 3 and 9 px (its
    autocorrelation falls smoothly with distance, as a photo's does)."""
    g = torch.Generator().manual_seed(seed)
    img = torch.zeros(1, 3, h, w)
    for s in (1.0, 3.0, 9.0):
        r = int(3 * s) + 1
        k = torch.exp(-torch.arange(-r, r + 1.0) ** 2 / (2 * s * s))
        k = k / k.sum()
        x = F.pad(torch.rand(1, 3, h, w, generator=g), (r, r, r, r), mode="reflect")
        x = F.conv2d(x, k.view(1, 1, 1, -1).expand(3, 1, 1, -1), groups=3)
        img += s * F.conv2d(x, k.view(1, 1, -1, 1).expand(3, 1, -1, 1), groups=3)
    return (img - img.min()) / (img.max() - img.min())


def test_lattice_score_photo_negative_grid_positive():
    x = smooth_field()
    assert M.lattice_score(x) < 0.02  # photos: <= 0.01 (JPEG's 8-px blocks at most)
    yy, xx = torch.meshgrid(torch.arange(128), torch.arange(160), indexing="ij")
    grid = ((yy % 4 == 0) | (xx % 4 == 0)).float() * 0.08  # a 4-px crosshatch, ~20 levels
    assert M.lattice_score((x + grid).clamp(0, 1)) > 0.03
    # 8-px period is seen too; a constant image is not a lattice
    grid8 = ((yy % 8 == 0) | (xx % 8 == 0)).float() * 0.08
    assert M.lattice_score((x + grid8).clamp(0, 1)) > 0.03


def test_blob_score_sees_a_blob_not_the_photo():
    photo = torch.full((1, 3, 128, 192), 0.5)  # a flat sky
    assert M.blob_score(photo, photo) == 0.0
    yy, xx = torch.meshgrid(torch.arange(128.0), torch.arange(192.0), indexing="ij")
    blob = torch.exp(-((yy - 64) ** 2 + (xx - 96) ** 2) / (2 * 30.0 ** 2))
    out = photo.clone()
    out[:, 0] += 0.3 * blob  # a soft red blob, up to 76 levels
    assert M.blob_score(out, photo) > 5.0
    # fine strokes (a 4-px checker) average out inside the 32-px cells
    checker = (((yy // 4) + (xx // 4)) % 2).float() * 0.2 - 0.1
    assert M.blob_score(photo + checker, photo) < 0.5
    busy = smooth_field(128, 192)  # nowhere flat at 32 px: nothing to judge
    assert np.isnan(M.blob_score(busy, busy))


def test_flat_blob_loss_zero_for_photo_and_positive_for_blob():
    photo = torch.full((2, 3, 64, 64), 0.4)
    assert float(losses.flat_blob(photo, photo)) == 0.0
    out = photo.clone()
    out[:, :, 16:48, 16:48] += 0.2
    assert float(losses.flat_blob(out, photo)) > 1e-3


def test_grey_is_luma_on_three_channels():
    x = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    g = M.grey(x)
    assert g.shape == (1, 3, 2, 2) and torch.allclose(g, torch.full_like(g, 0.299))


def test_smooth_net_same_weights_and_output_shape():
    torch.manual_seed(0)
    a = build_net(TINY)
    b = build_net(NetConfig(**{**TINY.to_dict(), "smooth": True}))
    b.load_state_dict(a.state_dict())  # the same parameters: smooth changes no shapes
    x = torch.rand(1, 3, 32, 48)
    assert b(x).shape == x.shape
    assert not torch.allclose(a(x), b(x))


def test_processing_size_and_stroke(tmp_path):
    torch.manual_seed(0)
    p = save_style(tmp_path / "s.safetensors", build_net(TINY), "s", processing=128)
    style = load_style(p)
    assert processing_size(style) == 128
    assert stroke_scale(style, StylizerOptions(), 480, 640) == pytest.approx(0.2)
    assert stroke_scale(style, StylizerOptions(stroke=2), 480, 640) == pytest.approx(0.1)
    assert stroke_scale(style, StylizerOptions(stroke=0), 480, 640) == 1.0
    assert stroke_scale(style, StylizerOptions(), 60, 100) == 1.0  # small inputs are never enlarged
    frame = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert Stylizer(p)(frame).shape == frame.shape
    plain = load_style(save_style(tmp_path / "t.safetensors", build_net(TINY), "t"))
    assert processing_size(plain) is None and stroke_scale(plain, StylizerOptions(), 480, 640) == 1.0
    with pytest.raises(OptionsError):
        StylizerOptions(stroke=-1).validate()


def test_window_resolution_style_size():
    from fstvideo.gui.settings import net_size
    assert net_size(720, 1280, 0, 512) == 512  # "style's size": the longest side becomes the style's
    assert net_size(240, 320, 0, 512) is None  # never enlarged
    assert net_size(720, 1280, 0, None) is None  # a file without a processing size: native
    assert net_size(720, 1280, 360) == 640


def test_lattice_loss_zero_for_photo_positive_for_grid():
    x = smooth_field()
    yy, xx = torch.meshgrid(torch.arange(128), torch.arange(160), indexing="ij")
    grid = ((yy % 4 == 0) | (xx % 4 == 0)).float() * 0.08
    clean, gridded = float(losses.lattice(x)), float(losses.lattice((x + grid).clamp(0, 1)))
    assert clean < 1e-3 and gridded > 10 * max(clean, 1e-4)
    y = (x + grid).requires_grad_()
    losses.lattice(y).backward()  # differentiable: a training term
    assert y.grad is not None and float(y.grad.abs().sum()) > 0


def test_relative_lattice_loss_ignores_the_hatch_contrast():
    # relative: each dip over its neighbours' mean difference, so a faint hatch counts for more
    # than its contrast (the absolute loss grows ~9x from 2 to 8 levels of hatch, this ~4x)
    x = smooth_field()
    yy, xx = torch.meshgrid(torch.arange(128), torch.arange(160), indexing="ij")
    grid = ((yy % 4 == 0) | (xx % 4 == 0)).float()
    faint, bold = 0.5 * x + 0.02 * grid, 0.5 * x + 0.08 * grid
    absolute = float(losses.lattice(bold)) / float(losses.lattice(faint))
    rel_faint, rel_bold = float(losses.lattice(faint, relative=True)), float(losses.lattice(bold, relative=True))
    assert rel_faint > 0.1 and rel_bold / rel_faint < 0.6 * absolute
    assert float(losses.lattice(0.5 * x, relative=True)) < 0.1 * rel_faint
