import numpy as np
import pytest
import torch

from fstvideo import NetConfig, build_net, load_style, save_style

pytest.importorskip("onnx")


def test_onnx_export_matches_torch_at_other_sizes(tmp_path):
    from onnx.reference import ReferenceEvaluator

    from fstvideo.export import export_onnx
    torch.manual_seed(0)
    path = save_style(tmp_path / "t.safetensors", build_net(NetConfig(widths=(8, 16, 16), blocks=1)), "t")
    result = export_onnx(load_style(path), tmp_path / "t.onnx")
    assert result.path.exists() and result.max_abs_diff < 1e-3
    x = np.random.default_rng(0).random((2, 3, 40, 52), dtype=np.float32)  # batch and size differ from the check
    got = ReferenceEvaluator(str(result.path)).run(None, {"input": x})[0]
    ref = load_style(path).build()(torch.from_numpy(x)).detach().numpy()
    assert np.abs(got - ref).max() < 1e-3
    assert not list(tmp_path.glob(".tmp-*"))


def test_onnx_export_of_the_shuffle_net(tmp_path):
    from onnx.reference import ReferenceEvaluator

    from fstvideo.export import export_onnx
    from fstvideo.model import FAST_CONFIG
    torch.manual_seed(0)
    path = save_style(tmp_path / "f.safetensors", build_net(FAST_CONFIG), "f")
    result = export_onnx(load_style(path), tmp_path / "f.onnx")
    assert result.max_abs_diff < 1e-3
    x = np.random.default_rng(1).random((1, 3, 40, 56), dtype=np.float32)  # multiples of 8 (space-to-depth 4)
    got = ReferenceEvaluator(str(result.path)).run(None, {"input": x})[0]
    ref = load_style(path).build()(torch.from_numpy(x)).detach().numpy()
    assert np.abs(got - ref).max() < 1e-3
