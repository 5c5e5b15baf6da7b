import torch

from fstvideo.train import losses


def test_gram_of_zeros_is_zero():
    assert torch.equal(losses.gram(torch.zeros(2, 3, 4, 5)), torch.zeros(2, 3, 3))


def test_gram_known_value():
    # C=2, H=1, W=2: rows a=[1,2], b=[3,4]; G = [[a.a, a.b], [b.a, b.b]] / (C*H*W=4)
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4
    assert torch.allclose(losses.gram(f), expected)


def test_gram_is_fp32_under_bf16_autocast():
    f = torch.randn(1, 4, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g = losses.gram(f.bfloat16())
    assert g.dtype == torch.float32


def test_tv_constant_is_zero_and_step_known():
    assert float(losses.total_variation(torch.full((1, 3, 5, 5), 0.7))) == 0.0
    x = torch.zeros(1, 1, 4, 4)
    x[..., 2:] = 1.0  # vertical edge: each row has 1 jump of 1 among 3 horizontal pairs
    assert abs(float(losses.total_variation(x)) - 1 / 3) < 1e-6


def test_content_loss_identical_is_zero_and_known():
    a = torch.randn(2, 3, 4, 4)
    assert float(losses.content_loss(a, a)) == 0.0
    assert abs(float(losses.content_loss(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 2.0))) - 4.0) < 1e-6


def test_style_loss_identical_grams_is_zero():
    feats = {"a": torch.randn(2, 3, 4, 4), "b": torch.randn(2, 5, 2, 2)}
    targets = {k: losses.gram(v) for k, v in feats.items()}
    assert float(losses.style_loss(feats, targets, {"a": 1.0, "b": 2.0})) == 0.0
    shifted = {k: v + 1 for k, v in targets.items()}
    # every Gram entry off by 1 -> MSE 1 per layer, weighted sum 1 + 2
    assert abs(float(losses.style_loss(feats, shifted, {"a": 1.0, "b": 2.0})) - 3.0) < 1e-5


def test_style_loss_sample_weights_known_answer():
    feats = {"a": torch.randn(2, 3, 4, 4)}
    g = losses.gram(feats["a"])
    target = {"a": g + torch.tensor([1.0, 2.0]).view(2, 1, 1)}  # per-sample MSE 1 and 4
    assert abs(float(losses.style_loss(feats, target, {"a": 1.0})) - 2.5) < 1e-5
    # weights (2, 0): (2 * 1 + 0 * 4) / 2 = 1; ones give the unweighted value
    assert abs(float(losses.style_loss(feats, target, {"a": 1.0}, torch.tensor([2.0, 0.0]))) - 1.0) < 1e-5
    assert abs(float(losses.style_loss(feats, target, {"a": 1.0}, torch.ones(2))) - 2.5) < 1e-5


def test_stability_zero_for_constant_net_positive_otherwise():
    x = torch.rand(1, 3, 8, 8)
    const = lambda x, mix=None: torch.zeros_like(x)
    assert float(losses.stability_loss(const, x, const(x))) == 0.0
    ident = lambda x, mix=None: x
    g = torch.Generator().manual_seed(0)
    v = float(losses.stability_loss(ident, x, x, sigma=0.03, generator=g))
    assert 0.0003 < v < 0.0015  # E[n^2] = sigma^2 = 0.0009


def test_out_of_range_known_values():
    assert float(losses.out_of_range(torch.rand(1, 3, 4, 4))) == 0.0
    x = torch.tensor([[[[-0.5, 0.5], [1.5, 1.0]]]])  # distances 0.5, 0, 0.5, 0 -> mean sq 0.125
    assert abs(float(losses.out_of_range(x)) - 0.125) < 1e-7


def test_grid_pattern_known_answers():
    # constant: 0; a +-1 checkerboard (period 2, locked to any even grid): energy 1
    assert losses.grid_pattern(torch.full((2, 3, 16, 16), 0.7)) < 1e-12
    yy, xx = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    checker = ((yy + xx) % 2 * 2 - 1).float().expand(1, 3, 16, 16)
    assert torch.isclose(losses.grid_pattern(checker, 8), torch.tensor(1.0))
    assert torch.isclose(losses.grid_pattern(checker, 4), torch.tensor(1.0))
    # a period-8 pattern is invisible on a 4-px grid: its 4-px tiles average to a constant
    stripes = ((xx // 4) % 2 * 2 - 1).float().expand(1, 1, 16, 16)
    assert torch.isclose(losses.grid_pattern(stripes, 8), torch.tensor(1.0))
    assert losses.grid_pattern(stripes, 4) < 1e-12
    # random noise is not locked to the grid: small against its own variance (1)
    noise = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    assert losses.grid_pattern(noise, 8) < 0.01


def test_lowpass_l1_known_answers():
    # equal: 0; a constant offset of 0.25: 0.25; a checkerboard against its own mean: 0 (texture
    # inside a block is free); inputs unchanged
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    before = x.clone()
    assert losses.lowpass_l1(x, x) == 0
    assert torch.isclose(losses.lowpass_l1(x + 0.25, x), torch.tensor(0.25))
    yy, xx = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    checker = 0.5 + 0.4 * ((yy + xx) % 2 * 2 - 1).float().expand(1, 3, 16, 16)
    assert losses.lowpass_l1(checker, torch.full_like(checker, 0.5)) < 1e-7
    assert losses.lowpass_l1(checker, torch.full_like(checker, 0.5), block=1) > 0.39
    assert torch.equal(x, before)


def test_spectral_excess_known_answers():
    # equal images: 0; a lattice the target lacks: > 0; broad texture only the target has: 0
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=g)
    assert losses.spectral_excess(x, x) == 0
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    lattice = 0.5 * x + 0.3 * torch.sin(xx * 2 * torch.pi / 7) * torch.sin(yy * 2 * torch.pi / 7)
    assert losses.spectral_excess(lattice, 0.5 * x) > 0.01
    assert losses.spectral_excess(0.5 * x, lattice) == 0
    assert losses.spectral_excess(torch.full_like(x, 0.3), x) == 0
