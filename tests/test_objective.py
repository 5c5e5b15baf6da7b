"""The optimiser and weighted objective shared by the trainer and distillation (train/objective.py)."""
from dataclasses import replace

import pytest
import torch

from fstvideo.model import FAST_CONFIG, SHUFFLE_CONFIG, NetConfig, build_net
from fstvideo.train import losses
from fstvideo.train.config import TrainConfig
from fstvideo.train.objective import Objective, adam

TINY = NetConfig(widths=(4, 8, 8), blocks=1, outer_kernel=3)


@pytest.mark.parametrize("config", [TINY, replace(SHUFFLE_CONFIG, widths=(4, 8, 8), fine=4),
                                    replace(FAST_CONFIG, widths=(4, 8, 8))])
def test_adam_scales_the_output_layer_only(config):
    net = build_net(config)
    opt = adam(net, 1e-3, 0.01, torch.device("cpu"))
    rest, out = opt.param_groups
    assert [id(p) for p in out["params"]] == [id(p) for p in net.output_parameters()]
    assert out["lr"] == pytest.approx(1e-5) and rest["lr"] == 1e-3
    assert len(rest["params"]) + len(out["params"]) == len(list(net.parameters()))
    # scale 1: one group (the layout of checkpoints written without out_lr_scale)
    assert len(adam(net, 1e-3, 1.0, torch.device("cpu")).param_groups) == 1


def test_objective_is_the_weighted_sum_of_the_loss_functions():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g) * 1.2 - 0.1
    fy = {"relu1_2": torch.rand(2, 4, 8, 8, generator=g), "relu2_2": torch.rand(2, 4, 8, 8, generator=g)}
    fx = {"relu2_2": torch.rand(2, 4, 8, 8, generator=g)}
    grams = {k: torch.rand(1, 4, 4, generator=g) for k in fy}
    w = torch.tensor([1.0, 3.0])
    cfg = TrainConfig(styles=("p.jpg",), data="photos", content_weight=2.0, tv_weight=3.0, range_weight=5.0,
                      blob_weight=7.0, lattice_weight=11.0, consistency_weight=13.0,
                      style_layers=(("relu1_2", 1.0), ("relu2_2", 0.5)))
    obj = Objective.of(cfg)
    t = obj(y, x, fy, fx, grams, w, style_scale=0.25)
    layers = {"relu1_2": 1.0, "relu2_2": 0.5}
    assert torch.equal(t.content, losses.content_loss(fy["relu2_2"], fx["relu2_2"]))
    assert torch.equal(t.style, losses.style_loss(fy, grams, layers, w))
    want = (2 * t.content + 0.25 * t.style + 3 * losses.total_variation(y) + 5 * losses.out_of_range(y)
            + 7 * losses.flat_blob(y, x) + 11 * losses.lattice(y) + 13 * losses.colour_consistency(y, x))
    assert torch.allclose(t.total, want)
    # a zero weight leaves its term out; a teacher's record gives content, style, TV and range only
    plain = Objective(content_weight=2.0, tv_weight=3.0, style_layers=cfg.style_layers)
    assert torch.allclose(plain(y, x, fy, fx, grams, w).total, 2 * t.content + t.style + 3 * t.tv)
    teacher = Objective.of_teacher({"content_weight": 2.0, "blob_weight": 300.0})
    assert (teacher.content_weight, teacher.tv_weight, teacher.range_weight) == (2.0, 1.0, 100.0)
    assert teacher.blob_weight == teacher.lattice_weight == teacher.consistency_weight == 0
