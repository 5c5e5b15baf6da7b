from pathlib import Path

import pytest
import torch

from fstvideo import NetConfig, build_net, load_style, save_style
from fstvideo.train.bundled import POLISH_AVERAGE, POLISH_STAGES, _stage_words, average_styles, polish_config


def _file(path, seed, styles=("a", "photo")):
    torch.manual_seed(seed)
    net = build_net(NetConfig(widths=(8, 8, 16), blocks=1, outer_kernel=3, depthwise=True, n_styles=len(styles)))
    return save_style(path, net, "tiny_fast", styles=list(styles))


def test_average_styles_known_answers(tmp_path):
    # Weight 0 gives the first file, 1 the second, 0.5 the elementwise mean (files hold fp16, so
    # up to its rounding); the average is recorded.
    a, b = _file(tmp_path / "a.safetensors", 0), _file(tmp_path / "b.safetensors", 1)
    sa, sb = load_style(a), load_style(b)
    for w in (0.0, 0.5, 1.0):
        out = load_style(average_styles(a, b, tmp_path / f"m{w}.safetensors", w))
        for k in sa.state:
            want = (1 - w) * sa.state[k].float() + w * sb.state[k].float()
            assert torch.allclose(out.state[k].float(), want.to(out.state[k].dtype).float(), atol=1e-6), k
        assert out.meta["training"]["average"]["weight"] == w
    with pytest.raises(ValueError, match="differ"):
        average_styles(a, _file(tmp_path / "c.safetensors", 2, styles=("b", "photo")), tmp_path / "x.safetensors", 0.5)


def test_polish_recipe_reads_as_run():
    # A stage starts from the previous stage's file unless it names one (0: the extracted file).
    assert _stage_words(POLISH_STAGES["starry_night"]) == \
        "300 steps at style weight x3 then 300 steps at style weight x6"
    two = ({"iterations": 300, "lr": 5e-4}, {"iterations": 200, "painting_style_scale": 2.0, "init": 0})
    assert _stage_words(two) == \
        "300 steps at style weight x1 and, from the extracted file, 200 steps at style weight x2"
    for name, stages in POLISH_STAGES.items():
        assert all(0 <= st.get("init", k) <= k for k, st in enumerate(stages)), name
        assert 0 < POLISH_AVERAGE.get(name, 1.0) <= 1.0
        for st in stages:  # a stage may override the common options
            cfg = polish_config(name, st, Path("start.safetensors"), Path("out.safetensors"))
            assert cfg.iterations == st["iterations"] and cfg.painting_weight == 1.0
            assert cfg.out_lr_scale == st.get("out_lr_scale", 0.01)


def test_recipes_and_credits_template(tmp_path):
    # The recipes are data (train/recipes.toml): every bundled name has a [base] and a [paint] config;
    # write_credits fills every field of train/assets_readme.md.in.
    from fstvideo.train import bundled
    for name in bundled.BUNDLED:
        base, paint = bundled.bundled_config(name, 10), bundled.paint_config(name, 1.0, "init")
        assert not base.net.smooth and paint.net.smooth and paint.style_warmup == 0 and paint.max_minutes == 1.0
        assert paint.style_balance == bundled.PAINT_BALANCE.get(name, bundled.PAINT["style_balance"])
        assert bundled.bundled_config(name, 10, "init").style_warmup == 0
    assert bundled.multi_config(10).style_names == bundled.BUNDLED
    text = bundled.write_credits(tmp_path / "README.md").read_text(encoding="utf-8")
    assert text.startswith("# Bundled styles\n") and "{" not in text and "}" not in text
    assert set(bundled._sections()) >= {"page", "row", "untrained", "base_only", "fast", "polished", "average", "last"}
