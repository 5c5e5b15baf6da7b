import json
import pickle
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from fstvideo import NetConfig, StyleError, build_net, load_style, save_style
from fstvideo.styles import resolve

TINY = NetConfig(widths=(8, 16, 16), blocks=1)


def test_net_shapes_and_range_multiple():
    net = build_net(TINY).eval()
    x = torch.rand(2, 3, 20, 28)
    y = net(x)
    assert y.shape == x.shape and y.dtype == torch.float32


def conv_input_widths(net: torch.nn.Module, x: torch.Tensor) -> list[int]:
    """Input widths of every conv but the full-size 1x1 skip during ``net(x)``."""
    sizes: list[int] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: sizes.append(inp[0].shape[-1]))
             for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m is not getattr(net, "skip", None)]
    net(x)
    for h in hooks:
        h.remove()
    return sizes


def test_shuffle_net_shapes_round_trip_and_no_full_res_conv(tmp_path):
    # The fast CPU architecture: space-to-depth in, pixel shuffle out; every conv below full size.
    from fstvideo.model import SHUFFLE_CONFIG
    assert SHUFFLE_CONFIG.shuffle
    net = build_net(replace(SHUFFLE_CONFIG, n_styles=2)).eval()
    x = torch.rand(2, 3, 24, 40)
    y = net(x)
    assert y.shape == x.shape
    # half width (+ reflection padding); only the 1x1 skip runs at full size
    assert max(conv_input_widths(net, x)) <= 40 // 2 + 2
    p = save_style(tmp_path / "f.safetensors", net, "f", styles=["a", "b"])
    st = load_style(p)
    assert st.config == replace(SHUFFLE_CONFIG, n_styles=2)
    assert torch.allclose(st.build()(x, torch.tensor([0.0, 1.0])), net.half().float()(x, torch.tensor([0.0, 1.0])),
                          atol=1e-5)


def test_space4_net_quarter_res_convs_odd_sizes_and_old_configs():
    # space=4: 4x4 pixels folded into 48 channels, a 1x1 patch stem; every conv at <= 1/4 size,
    # yet the output has full size (pixel shuffle); the Stylizer pads odd frames to 8.
    from fstvideo.stylizer import Stylizer
    cfg = NetConfig(widths=(16, 16, 32), blocks=1, outer_kernel=3, depthwise=True, shuffle=True, space=4, stem_kernel=1)
    torch.manual_seed(0)
    net = build_net(cfg).eval()
    assert net.multiple == 8 and net.down[0].conv.kernel_size == (1, 1)
    x = torch.rand(1, 3, 24, 40)
    assert net(x).shape == x.shape and max(conv_input_widths(net, x)) <= 40 // 4 + 2
    frame = np.random.default_rng(0).integers(0, 256, (29, 37, 3), dtype=np.uint8)
    st = Stylizer(load_style(save_style(Path(tempfile.mkdtemp()) / "s4.safetensors", net, "s4")))
    out = st(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    # Files written before these fields existed load as the space-2 net with outer_kernel stems.
    old = NetConfig.from_dict({"widths": [16, 32, 64], "blocks": 3, "outer_kernel": 3, "depthwise": True,
                               "n_styles": 1, "shuffle": True})
    assert old.space == 2 and build_net(old).multiple == 4
    assert build_net(old).down[0].conv.kernel_size == (3, 3)
    assert not old.skip and not old.fine


def test_space4_fine_stage_and_skip():
    # fine: one more stage at 1/2 resolution before the output; skip: a 1x1 conv of the input,
    # zero at init (the net starts as without it), trained like any layer.
    cfg = NetConfig(widths=(16, 16, 32), blocks=1, outer_kernel=3, depthwise=True, shuffle=True, space=4,
                    stem_kernel=1, fine=8, skip=True, n_styles=2)
    torch.manual_seed(0)
    net = build_net(cfg).eval()
    x = torch.rand(2, 3, 24, 16)
    y = net(x)
    assert y.shape == x.shape
    assert max(conv_input_widths(net, x)) <= 16 // 2 + 2  # the fine stage at half size; only the 1x1 skip at full size
    without = build_net(replace(cfg, skip=False)).eval()
    without.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("skip.")})
    assert torch.allclose(without(x), y)
    net.skip.weight.data[:] = torch.eye(3)[:, :, None, None]
    assert torch.allclose(net(x), y + x, atol=1e-6)


def test_default_net_is_johnson_sized():
    # 9x9 / 3x3 s2 / 3x3 s2 / 5 residual blocks / 2 upsample convs / 9x9: ~1.68M parameters.
    n = sum(p.numel() for p in build_net().parameters())
    assert 1.6e6 < n < 1.8e6


def test_conditional_norm_one_hot_and_blend():
    torch.manual_seed(0)
    net = build_net(NetConfig(widths=(8, 16, 16), blocks=1, n_styles=3)).eval()
    for m in net.modules():
        if hasattr(m, "weight") and m.__class__.__name__ == "CondInstanceNorm":
            m.weight.data.normal_(1, 0.5)
            m.bias.data.normal_(0, 0.5)
    x = torch.rand(1, 3, 16, 16)
    outs = [net(x, torch.eye(3)[i]) for i in range(3)]
    assert not torch.allclose(outs[0], outs[1])
    net.set_mix([0, 2, 0])  # normalised: one-hot on style 1
    assert torch.allclose(net(x), outs[1], atol=1e-6)
    per_sample = net(x.repeat(3, 1, 1, 1), torch.eye(3))
    for i in range(3):
        assert torch.allclose(per_sample[i], outs[i][0], atol=1e-5)
    with pytest.raises(ValueError):
        net.set_mix([-1, 1, 1])


def test_conditional_norm_inference_path_matches_instance_norm():
    # Without a gradient (fp32 inference) the norm folds statistics and affine into one multiply-add;
    # with one (training) it is F.instance_norm then the affine: the same numbers.
    from fstvideo.model import CondInstanceNorm
    torch.manual_seed(0)
    norm = CondInstanceNorm(8, 3)
    norm.weight.data.normal_()
    norm.bias.data.normal_()
    x = torch.randn(2, 8, 10, 12) * 3 + 1
    for mix in (torch.tensor([0.2, 0.3, 0.5]), torch.softmax(torch.randn(2, 3), 1)):
        with torch.no_grad():
            fast = norm(x, mix)
        assert torch.allclose(fast, norm(x, mix).detach(), atol=1e-5)


def test_style_round_trip(tmp_path):
    net = build_net(TINY)
    p = save_style(tmp_path / "s.safetensors", net, "mine", training={"iterations": 3},
                   credit=[{"style": "mine", "work": "W", "artist": "A", "year": 1900}])
    style = load_style(p)
    assert style.name == "mine" and style.styles == ("mine",) and style.config == TINY
    assert style.meta["training"]["iterations"] == 3
    assert all(v.dtype == torch.float16 for v in style.state.values())
    x = torch.rand(1, 3, 16, 16)
    assert torch.allclose(style.build()(x), net.half().float().eval()(x), atol=1e-5)
    assert not list(tmp_path.glob(".tmp-*"))


def test_loader_rejects_pickle(tmp_path):
    p = tmp_path / "evil.safetensors"
    p.write_bytes(pickle.dumps({"a": np.zeros(3)}))
    with pytest.raises(StyleError, match="not a valid style file"):
        load_style(p)


def test_loader_rejects_shape_mismatch(tmp_path):
    net = build_net(TINY)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    state["out.conv.weight"] = torch.zeros(3, 8, 3, 3)
    meta = {"format": "fstvideo-style", "format_version": 1, "name": "x", "styles": ["x"],
            "arch": TINY.to_dict()}
    save_file(state, str(tmp_path / "bad.safetensors"), metadata={"fstvideo": json.dumps(meta)})
    with pytest.raises(StyleError, match="shape of out.conv.weight"):
        load_style(tmp_path / "bad.safetensors")


def test_loader_rejects_missing_metadata_and_truncation(tmp_path):
    net = build_net(TINY)
    save_file(dict(net.state_dict()), str(tmp_path / "nometa.safetensors"))
    with pytest.raises(StyleError, match="metadata"):
        load_style(tmp_path / "nometa.safetensors")
    good = save_style(tmp_path / "good.safetensors", net, "g")
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(StyleError):
        load_style(cut)
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(StyleError):
        load_style(tmp_path / "empty.safetensors")


def test_unknown_style_lists_known():
    with pytest.raises(StyleError, match="unknown style 'no_such_style'"):
        resolve("no_such_style")


def test_build_net_picks_the_class_and_names_the_output_layer():
    # One entry point: pyramid -> PyramidNet, shuffle -> FastNet, else JohnsonNet; each names the
    # layer that emits the image.
    from fstvideo import FAST_CONFIG, FastNet, JohnsonNet, PyramidNet
    from fstvideo.model import SHUFFLE_CONFIG
    assert isinstance(build_net(FAST_CONFIG), PyramidNet)
    johnson = build_net(TINY)
    assert isinstance(johnson, JohnsonNet) and johnson.multiple == 4
    assert [id(p) for p in johnson.output_parameters()] == [id(p) for p in johnson.out.parameters()]
    fast = build_net(replace(SHUFFLE_CONFIG, n_styles=2))
    assert isinstance(fast, FastNet) and fast.multiple == 8
    assert fast.fine_out is not None  # with the fine stage, `out` is the 1/4 -> 1/2 stage, not the last conv
    assert [id(p) for p in fast.output_parameters()] == [id(p) for p in fast.fine_out.parameters()]
    assert fast.output_parameters()[-1].shape == (3 * 2 ** 2,)  # bias of the conv pixel-shuffled to RGB
    plain = build_net(replace(SHUFFLE_CONFIG, fine=0))
    assert [id(p) for p in plain.output_parameters()] == [id(p) for p in plain.out.parameters()]
    with pytest.raises(ValueError):
        JohnsonNet(SHUFFLE_CONFIG)
    with pytest.raises(ValueError):
        FastNet(TINY)
    with pytest.raises(ValueError, match="smooth"):
        build_net(replace(SHUFFLE_CONFIG, smooth=True))


def test_bundled_files_build_their_own_class():
    # Every bundled file's arch builds the class it was made with, with exactly its tensors.
    from fstvideo import FastNet, JohnsonNet, PyramidNet, list_styles
    from fstvideo.styles import bundled_dir
    files = [p for p in list_styles().values() if p.parent == bundled_dir()]
    if not files:
        pytest.skip("no bundled style files")
    for p in files:
        st = load_style(p)
        net = st.build()
        kind = PyramidNet if st.config.pyramid else FastNet if st.config.shuffle else JohnsonNet
        assert isinstance(net, kind), p.name
        assert st.config.pyramid == p.stem.endswith("_fast"), p.name  # the fast files: no grid
        assert set(net.state_dict()) == set(st.state), p.name
        x = torch.rand(1, 3, 16, 24)
        with torch.no_grad():
            assert net(x).shape == x.shape


PYRAMID = NetConfig(widths=(8, 16, 16), blocks=1, outer_kernel=3, depthwise=True, pyramid=True, skip=True)


def test_pyramid_layers_are_blur_then_stride_and_bilinear_then_conv():
    # BlurDown runs blur + stride-2 conv as one wider conv, UpOut runs bilinear x2 + conv as four
    # phases at the low resolution: both equal the two-step maps away from the borders.
    import torch.nn.functional as F

    from fstvideo.fastnet import BlurDown, UpOut
    from fstvideo.model import ConvLayer, _blur
    torch.manual_seed(0)
    x, one = torch.rand(1, 5, 16, 24), torch.ones(1)
    down, plain = BlurDown(5, 4, 3, 1), ConvLayer(5, 4, 3, stride=2)
    plain.load_state_dict(down.state_dict())
    assert torch.allclose(down(x, one)[..., 1:-1, 1:-1], plain(_blur(x), one)[..., 1:-1, 1:-1], atol=1e-5)
    up = UpOut(5, 3)
    two_step = F.conv2d(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False),
                        up.conv.weight, up.conv.bias, padding=1)
    assert up(x).shape == (1, 3, 32, 48)
    assert torch.allclose(up(x)[..., 2:-2, 2:-2], two_step[..., 2:-2, 2:-2], atol=1e-5)


def test_pyramid_net_paints_a_flat_frame_flat_where_the_shuffle_net_paints_a_grid():
    # Every op of PyramidNet treats all pixel positions alike, so a flat frame stays flat whatever
    # the weights; a pixel shuffle gives each position in a 4x4 block its own weights: a lattice.
    from fstvideo.fastnet import FastNet
    from fstvideo.model import SHUFFLE_CONFIG
    torch.manual_seed(0)
    net, flat = build_net(PYRAMID).eval(), torch.full((1, 3, 32, 48), 0.4)
    for p in net.parameters():
        p.data.normal_(0, 0.5)
    assert float(net(flat).detach()[..., 4:-4, 4:-4].std(dim=(2, 3)).max()) < 1e-4
    shuffle = build_net(SHUFFLE_CONFIG)
    assert isinstance(shuffle, FastNet)
    for p in shuffle.parameters():
        p.data.normal_(0, 0.5)
    assert float(shuffle.eval()(flat).detach()[..., 4:-4, 4:-4].std(dim=(2, 3)).max()) > 1e-2


def test_pyramid_net_shapes_round_trip_and_output_layer(tmp_path):
    from fstvideo import PyramidNet
    from fstvideo.stylizer import Stylizer
    net = build_net(replace(PYRAMID, n_styles=2)).eval()
    assert isinstance(net, PyramidNet) and net.multiple == 8
    assert [id(p) for p in net.output_parameters()] == [id(p) for p in net.out.parameters()]
    x = torch.rand(2, 3, 24, 40)
    assert net(x).shape == x.shape
    st = load_style(save_style(tmp_path / "p.safetensors", net, "p", styles=["a", "b"]))
    assert st.config == replace(PYRAMID, n_styles=2)
    mix = torch.tensor([0.3, 0.7])
    assert torch.allclose(st.build()(x, mix), net.half().float()(x, mix), atol=1e-5)
    frame = np.random.default_rng(0).integers(0, 256, (29, 37, 3), dtype=np.uint8)
    assert Stylizer(st).__call__(frame).shape == frame.shape  # odd sizes: the Stylizer pads to 8
    with pytest.raises(ValueError):
        PyramidNet(TINY)


def test_pyramid_refine_blocks_start_as_the_identity():
    # refine adds residual blocks after the decoder's skips with zero-initialised output scales: a
    # file without them loads into a net with them (strict=False) and paints the same picture.
    torch.manual_seed(0)
    plain = build_net(PYRAMID).eval()
    refined = build_net(replace(PYRAMID, refine=1)).eval()
    missing, unexpected = refined.load_state_dict(plain.state_dict(), strict=False)
    assert missing and all(k.startswith("refine.") for k in missing) and not unexpected
    x = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        assert torch.allclose(refined(x), plain(x), atol=1e-6)
