"""Multi-style files (conditional instance norm) and blending by weights."""
import numpy as np
import pytest
import torch

from fstvideo import FstError, NetConfig, OptionsError, build_net, load_style, save_style
from fstvideo.cli import parse_blend
from fstvideo.styles import extract_styles
from fstvideo.stylizer import Stylizer, StylizerOptions, blend_weights, effective_mix

CFG = NetConfig(widths=(8, 16, 16), blocks=1, n_styles=3)
NAMES = ["ink", "fire", "sea"]


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    torch.manual_seed(0)
    net = build_net(CFG)
    for m in net.modules():
        if type(m).__name__ == "CondInstanceNorm":
            m.weight.data.normal_(1, 0.5)
            m.bias.data.normal_(0, 0.3)
    return save_style(tmp_path_factory.mktemp("m") / "multi.safetensors", net, "multi", styles=NAMES)


def test_multi_style_file_round_trips(multi):
    s = load_style(multi)
    assert s.styles == tuple(NAMES) and s.config.n_styles == 3
    assert s.state["down.0.norm.weight"].shape == (3, 8)


def test_weight_one_equals_that_style(multi):
    frame = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    net = load_style(multi).build()
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
    for i, name in enumerate(NAMES):
        out = Stylizer(multi, StylizerOptions(blend=((name, 1.0),)))(frame)
        ref = (net(x, torch.eye(3)[i]).clamp(0, 1) * 255).round().byte()[0].permute(1, 2, 0).numpy()
        assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    a = Stylizer(multi, StylizerOptions(blend=(("ink", 1.0),)))(frame)
    b = Stylizer(multi, StylizerOptions(blend=(("fire", 1.0),)))(frame)
    mix = Stylizer(multi, StylizerOptions(blend=(("ink", 0.5), ("fire", 0.5))))(frame)
    assert not np.array_equal(a, b) and not np.array_equal(mix, a) and not np.array_equal(mix, b)


def test_weights_validated_and_normalised(multi):
    s = load_style(multi)
    assert torch.allclose(blend_weights(s, (("ink", 3.0), ("sea", 1.0))), torch.tensor([0.75, 0.0, 0.25]))
    with pytest.raises(OptionsError, match="known: ink, fire, sea"):
        blend_weights(s, (("lava", 1.0),))
    with pytest.raises(OptionsError, match="non-negative"):
        blend_weights(s, (("ink", -0.5), ("fire", 1.0)))
    with pytest.raises(OptionsError, match="zero"):
        blend_weights(s, (("ink", 0.0),))


def test_blend_spec_parsing():
    assert parse_blend("starry_night:0.6,wave:0.4")[1] == (("starry_night", 0.6), ("wave", 0.4))
    assert parse_blend("wave") == ("wave", ())
    with pytest.raises(OptionsError):
        parse_blend("a:x,b:1")


def test_live_reblend_without_reload(multi):
    frame = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    st = Stylizer(multi, StylizerOptions(blend=(("ink", 1.0),)))
    first = st(frame)
    st.set_options(StylizerOptions(blend=(("sea", 1.0),)))
    assert np.array_equal(st(frame), Stylizer(multi, StylizerOptions(blend=(("sea", 1.0),)))(frame))
    assert not np.array_equal(first, st(frame))


@pytest.fixture(scope="module")
def with_photo(tmp_path_factory):
    torch.manual_seed(1)
    net = build_net(NetConfig(widths=(8, 16, 16), blocks=1, n_styles=3))
    for m in net.modules():
        if type(m).__name__ == "CondInstanceNorm":
            m.weight.data.normal_(1, 0.5)
            m.bias.data.normal_(0, 0.3)
    return save_style(tmp_path_factory.mktemp("p") / "wp.safetensors", net, "wp", styles=["ink", "fire", "photo"])


def test_strength_interpolates_toward_photo_slot(with_photo, multi):
    s = load_style(with_photo)
    w, pixels = effective_mix(s, StylizerOptions(strength=0.25, blend=(("fire", 1.0),), strength_mode="norm"))
    assert not pixels and torch.allclose(w, torch.tensor([0.0, 0.25, 0.75]))
    w, pixels = effective_mix(s, StylizerOptions(strength=0.25))  # default: pixels
    assert pixels and torch.allclose(w, torch.tensor([1.0, 0.0, 0.0]))
    frame = np.random.default_rng(2).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    zero = Stylizer(with_photo, StylizerOptions(strength=0.0, strength_mode="norm"))(frame)
    photo = Stylizer(with_photo, StylizerOptions(blend=(("photo", 1.0),)))(frame)
    assert np.array_equal(zero, photo)  # strength 0 = the photo slot's output, not the input
    with pytest.raises(OptionsError, match="photo"):
        effective_mix(load_style(multi), StylizerOptions(strength=0.5, strength_mode="norm"))
    with pytest.raises(OptionsError, match="strength mode"):
        StylizerOptions(strength_mode="magic").validate()


def test_extract_slots_matches_multi_file(with_photo, tmp_path):
    s = load_style(with_photo)
    one = load_style(extract_styles(s, ["fire", "photo"], tmp_path / "fire.safetensors"))
    assert one.styles == ("fire", "photo") and one.name == "fire"
    frame = np.random.default_rng(3).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    a = Stylizer(with_photo, StylizerOptions(blend=(("fire", 1.0),), strength=0.6, strength_mode="norm"))(frame)
    b = Stylizer(one, StylizerOptions(strength=0.6, strength_mode="norm"))(frame)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    with pytest.raises(FstError, match="known: ink, fire, photo"):
        extract_styles(s, ["lava"], tmp_path / "x.safetensors")


def test_compiled_net_follows_live_blend(multi):
    frame = np.random.default_rng(4).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    st = Stylizer(multi, StylizerOptions(compile=True, blend=(("ink", 1.0),)))
    first = st(frame)
    st.set_options(StylizerOptions(compile=True, blend=(("sea", 1.0),)))
    ref = Stylizer(multi, StylizerOptions(blend=(("sea", 1.0),)))(frame)
    out = st(frame)
    assert not np.array_equal(first, out)
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 2


def test_quality_bench_picks_slot_painting_and_weight(with_photo):
    from fstvideo.bench.quality import painting_of, slot_style_weight
    from fstvideo.styles import Style
    s = load_style(with_photo)
    meta = {"training": {"config": {"styles": [__file__, __file__], "style_names": ["ink", "fire", "photo"],
                                    "style_weight": 7.0}, "style_weights": [10.0, 20.0, 0.0]}}
    st = Style(name="wp", styles=s.styles, config=s.config, state=s.state, meta=meta)
    assert slot_style_weight(st, "fire") == 20.0 and slot_style_weight(st, "other") == 7.0
    assert painting_of(st, "fire") == __file__  # no file named after the slot: the first existing one


def test_extract_slots_of_the_shuffle_net(tmp_path):
    # Every conditional norm is sliced, including the pixel-shuffle net's up_norm.
    from dataclasses import replace

    from fstvideo.model import SHUFFLE_CONFIG
    torch.manual_seed(0)
    net = build_net(replace(SHUFFLE_CONFIG, n_styles=3))
    for m in net.modules():
        if type(m).__name__ == "CondInstanceNorm":
            m.weight.data.normal_(1, 0.5)
            m.bias.data.normal_(0, 0.3)
    s = load_style(save_style(tmp_path / "f.safetensors", net, "f", styles=["a", "b", "photo"]))
    one = load_style(extract_styles(s, ["b", "photo"], tmp_path / "b.safetensors"))
    x = torch.rand(1, 3, 24, 32)
    assert torch.allclose(s.build()(x, torch.tensor([0.0, 1.0, 0.0])), one.build()(x, torch.tensor([1.0, 0.0])),
                          atol=1e-5)


def test_blend_of_weight_one_is_the_single_style():
    # '--style a:1,b:0' serves a's own file: the same picture as '--style a', whatever nets exist
    import argparse

    from fstvideo.cli import build_stylizer
    frame = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    base = dict(strength=1.0, strength_mode="pixels", preserve_color=False, max_size=None, stroke=1.0,
                device="cpu", precision="fp32", compile=False, fast=False, scale=None)
    single = build_stylizer(argparse.Namespace(style="starry_night", **base))
    blend = build_stylizer(argparse.Namespace(style="starry_night:1,wave:0", **base))
    assert blend.style.path == single.style.path
    assert np.abs(blend(frame).astype(int) - single(frame).astype(int)).mean() < 2
