from dataclasses import replace

import pytest
import torch

from fstvideo import build_net, load_style, save_style
from fstvideo.model import SHUFFLE_CONFIG
from fstvideo.train.grow import can_grow, grow

SMALL = replace(SHUFFLE_CONFIG, widths=(8, 8, 16), n_styles=2, fine=4)


@pytest.mark.parametrize("big", [replace(SMALL, fine=8), replace(SMALL, widths=(8, 12, 16)),
                                 replace(SMALL, widths=(8, 12, 24), fine=6)])
def test_grown_net_computes_the_same_image(big):
    # Every old weight lands in the leading slice and every weight reading a new channel is zero, so
    # the wider net's output equals the small one's for any style blend, at an odd size.
    torch.manual_seed(1)
    small = build_net(SMALL).eval()
    wide = grow(small.state_dict(), SMALL, big).eval()
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in small.parameters())
    x = torch.rand(2, 3, 24, 40)
    with torch.no_grad():
        for mix in (torch.tensor([1.0, 0.0]), torch.tensor([0.3, 0.7])):
            assert torch.equal(wide(x, mix), small(x, mix))


def test_grow_refuses_anything_but_more_channels():
    assert can_grow(SMALL, SMALL) and can_grow(SMALL, replace(SMALL, fine=8))
    for other in (replace(SMALL, fine=2), replace(SMALL, widths=(8, 4, 16)), replace(SMALL, blocks=2),
                  replace(SMALL, fine=0), replace(SMALL, space=2)):
        assert not can_grow(SMALL, other)
        with pytest.raises(ValueError):
            grow(build_net(SMALL).state_dict(), SMALL, other)


def test_distill_init_widens_a_smaller_student(tmp_path):
    # --init with a wider `net`: the run starts from the grown file and writes the wider architecture.
    from fstvideo.model import NetConfig
    from fstvideo.train.distill import DistillConfig, distill
    from tests.test_distill import copy_photos
    photos = copy_photos(tmp_path, 2)
    teacher = str(save_style(tmp_path / "t.safetensors", build_net(NetConfig(widths=(8, 16, 16), blocks=1)), "t"))
    common = dict(teachers=(teacher,), data=str(photos), teacher_size=48, crop=32, batch_size=2, iterations=1)
    first = distill(DistillConfig(out=str(tmp_path / "s.safetensors"), net=SMALL, **common), log=lambda line: None)
    wide = replace(SMALL, widths=(8, 12, 16), fine=6)
    out = distill(DistillConfig(out=str(tmp_path / "w.safetensors"), net=wide, init=str(first), **common),
                  log=lambda line: None)
    assert load_style(out).config == replace(wide, n_styles=1)
