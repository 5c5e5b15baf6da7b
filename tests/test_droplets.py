"""Known answers for the droplet measure (bench) and the colour-consistency training term: a
flat blob of another colour is seen, the photo, a global colour mapping and fine strokes are not."""
import torch
import torch.nn.functional as F

from fstvideo.bench import measures as M
from fstvideo.train import losses


def field(h=128, w=192, seed=0) -> torch.Tensor:
    """A photo-like 1x3xHxW image: noise blurred at sigma 6 px, plus fine texture (std ~6 levels)."""
    g = torch.Generator().manual_seed(seed)
    x = F.avg_pool2d(F.pad(torch.rand(1, 3, h // 4 + 4, w // 4 + 4, generator=g), (0, 0, 0, 0)), 5, 1)
    x = F.interpolate(x[..., :h // 4, :w // 4], size=(h, w), mode="bilinear", align_corners=False)
    x = 0.2 + 0.6 * (x - x.min()) / (x.max() - x.min())
    return (x + 0.025 * torch.randn(1, 1, h, w, generator=g)).clamp(0, 1)


def disc(h=128, w=192, cy=64, cx=120, r=22) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(h * 1.0), torch.arange(w * 1.0), indexing="ij")
    return (((yy - cy) ** 2 + (xx - cx) ** 2) < r * r).float()[None, None]


def test_droplet_score_sees_a_flat_blob_not_the_photo():
    photo = field()
    assert M.droplet_score(photo, photo) == 0.0
    # the painting's palette as a global mapping, with strokes: no droplet
    painted = (0.7 * photo[:, [1, 2, 0]] + 0.15 + 0.04 * torch.sign(torch.sin(torch.arange(192.0) / 1.5))).clamp(0, 1)
    assert M.droplet_score(painted, photo) < 0.2
    # a flat olive disc of radius 22 px (~9% of the frame) over the textured photo
    m = disc()
    blob = painted * (1 - m) + torch.tensor([0.39, 0.38, 0.24]).view(1, 3, 1, 1) * m
    assert M.droplet_score(blob, photo) > 3.0


def test_colour_consistency_zero_for_mappings_positive_for_blob():
    photo = torch.cat([field(128, 128, s) for s in range(2)])  # 8x8 cells of 16 px
    assert float(losses.colour_consistency(photo, photo)) < 5e-4  # kernel smoothing error only
    mapped = (0.8 * photo[:, [2, 0, 1]] + 0.1).clamp(0, 1)  # a global palette change: consistent
    assert float(losses.colour_consistency(mapped, photo)) < 1e-4
    m = disc(128, 128, 64, 64, 25)
    blob = mapped * (1 - m) + torch.tensor([0.1, 0.9, 0.1]).view(1, 3, 1, 1) * m
    assert float(losses.colour_consistency(blob, photo)) > 1e-2


def test_colour_consistency_is_differentiable_and_pulls_the_blob_back():
    photo = field(128, 128)
    m = disc(128, 128, 64, 64, 25)
    y = (photo * (1 - m) + 0.95 * m).requires_grad_(True)
    losses.colour_consistency(y, photo).backward()
    g = y.grad.sum(1, keepdim=True)
    assert float((g * m).sum()) > 0  # descending lowers the too-bright blob


def test_flat_fill_counts_flat_cells_only():
    g = torch.Generator().manual_seed(0)
    textured = 0.5 + 0.1 * torch.randn(1, 3, 64, 64, generator=g)
    assert float(losses.flat_fill(textured)) == 0.0
    flat = textured.clone()
    flat[:, :, :32, :32] = 0.4  # a quarter of the cells, std 0: each short of tau by 0.02
    assert abs(float(losses.flat_fill(flat)) - 0.25 * 0.02) < 1e-4
