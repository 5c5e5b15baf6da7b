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
