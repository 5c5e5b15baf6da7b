from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fstvideo.errors import FstError
from fstvideo.model import NetConfig
from fstvideo.styles import load_style
from fstvideo.train import losses
from fstvideo.train.data import PhotoCrops
from fstvideo.train.trainer import TrainConfig, Trainer, load_checkpoint, painting_credit
from fstvideo.train.vgg import layer_names

TINY = NetConfig(widths=(4, 8, 8), blocks=1, outer_kernel=3)


def fake_vgg():
    g = torch.Generator().manual_seed(0)
    state, cin = {}, 3
    for _, i in layer_names("vgg16")[:10]:
        cout = 64 if i < 5 else 128 if i < 10 else 256 if i < 17 else 512
        state[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5
        state[f"features.{i}.bias"] = torch.zeros(cout)
        cin = cout
    return state


@pytest.fixture(scope="module")
def vgg_state():
    return fake_vgg()


@pytest.fixture()
def data(tmp_path):
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos" / "sub"
    photos.mkdir(parents=True)
    for i in range(3):
        a = np.zeros((48, 40, 3), np.uint8)
        a[:, : 20 + 5 * i] = rng.integers(0, 255, 3)
        Image.fromarray(a).save(photos / f"p{i}.png")
    painting = tmp_path / "stripes.png"
    s = np.zeros((40, 40, 3), np.uint8)
    s[::4] = (250, 200, 20)
    s[:, ::6, 2] = 255
    Image.fromarray(s).save(painting)
    return tmp_path


def cfg(root, **kw):
    base = dict(styles=(str(root / "stripes.png"),), data=str(root / "photos"), out=str(root / "out.safetensors"),
                net=TINY, image_size=32, style_size=40, batch_size=2, iterations=30, lr=1e-2,
                checkpoint_every=10, sample_every=0, precision="fp32", run_dir=str(root / "run"), seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_training_lowers_loss_and_writes_loadable_style(data, vgg_state):
    t = Trainer(cfg(data), vgg_state=vgg_state)
    first = [t.train_step()["total"] for _ in range(5)]
    while t.step < 30:
        t.train_step()
    last = [h[-1] for h in t.history[-5:]]
    assert sum(last) < sum(first)
    out = t.export()
    style = load_style(out)
    assert style.name == "stripes" and style.meta["training"]["steps"] == 30
    assert style.meta["credit"][0]["file"] == "stripes.png"
    y = style.build()(torch.rand(1, 3, 16, 16))
    assert y.shape == (1, 3, 16, 16) and torch.isfinite(y).all()
    assert t.save_loss_curve().is_file()
    assert t.save_sample().is_file()


def test_resume_continues_same_run(data, vgg_state):
    c = cfg(data, iterations=6, checkpoint_every=3)
    a = Trainer(c, vgg_state=vgg_state)
    for _ in range(3):
        a.train_step()
    ck = a.save_checkpoint()
    ref = [a.train_step()["total"] for _ in range(3)]  # uninterrupted continuation
    b = Trainer(c, resume=ck, vgg_state=vgg_state)
    assert b.step == 3
    saved = load_checkpoint(ck)
    assert saved["opt"]["state"][0]["step"] == 3
    got = [b.train_step()["total"] for _ in range(3)]
    assert np.allclose(got, ref, rtol=1e-4)  # same data order too: RNG states are restored
    assert b.step == 6


def test_two_styles_make_conditional_net(data, vgg_state):
    c = cfg(data, styles=(str(data / "stripes.png"), str(data / "stripes.png")), style_names=("a", "b"),
            iterations=2, stability_weight=1.0)
    t = Trainer(c, vgg_state=vgg_state)
    t.train_step()
    out = t.train_step()
    assert out["stability"] > 0
    style = load_style(t.export())
    assert style.styles == ("a", "b") and style.config.n_styles == 2


def test_bad_inputs_are_fst_errors(data, vgg_state, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FstError, match="no images"):
        Trainer(cfg(data, data=str(empty)), vgg_state=vgg_state)
    with pytest.raises(FstError, match="painting not found"):
        Trainer(cfg(data, styles=(str(tmp_path / "nope.jpg"),)), vgg_state=vgg_state)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(FstError, match="checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_credit_from_sources_table():
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "styles"
    if not (shared / "SOURCES.md").is_file():
        pytest.skip("shared paintings absent")
    c = painting_credit(shared / "starry_night.jpg")
    assert c["work"] == "The Starry Night" and c["artist"] == "Vincent van Gogh" and c["year"] == "1889"


def test_gatys_lowers_loss(data, vgg_state):
    from fstvideo.train.data import load_painting
    from fstvideo.train.gatys import GatysConfig, layers_for, stylize
    from fstvideo.train.vgg import VGGFeatures
    layers, content = layers_for("vgg16")
    vgg = VGGFeatures(tuple(layers) + (content,), state=vgg_state)
    photo = load_painting(data / "photos" / "sub" / "p0.png", 24)
    painting = load_painting(data / "stripes.png", 24)
    seen = []
    out = stylize(photo, painting, GatysConfig(iterations=15), progress=lambda i, n, loss: seen.append(loss), vgg=vgg)
    assert out.shape == photo.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert min(seen[1:]) < seen[0]


def test_cli_register_and_bad_options(data):
    import argparse

    from fstvideo.train import cli
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd")
    cli.register(sub)
    a = ap.parse_args(["train", "--data", str(data / "photos")])
    with pytest.raises(FstError, match="--style"):
        a.func(a)
    a = ap.parse_args(["stylize", str(data / "stripes.png"), "--style", str(data / "stripes.png"), "-o",
                       str(data / "o.png")])
    with pytest.raises(FstError, match="--optimize"):
        a.func(a)
    a = ap.parse_args(["weights", "vgg19"])
    assert a.func is cli.run_weights


def test_style_balance_and_photo_slot(data, vgg_state):
    c = cfg(data, style_balance=4.0, photo_slot=True, iterations=4)
    t = Trainer(c, vgg_state=vgg_state)
    assert t.config.style_names == ("stripes", "photo") and t.config.net.n_styles == 2
    # the painting's weight puts plain photos at a style loss of 4; the photo slot has none
    assert t.style_w[0] > 0 and float(t.style_w[1]) == 0.0
    with torch.no_grad():
        fx = t.vgg(PhotoCrops(c.data, c.image_size, seed=777).batch(8))
        ref = float(losses.style_loss(fx, {k: v[:1] for k, v in t.targets.items()}, t.layer_weights))
    assert abs(float(t.style_w[0]) * ref - 4.0) < 1e-3
    out = t.run(bar=False)
    st = load_style(out)
    assert st.styles == ("stripes", "photo")
    assert st.meta["training"]["style_weights"][1] == 0.0
