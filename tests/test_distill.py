from pathlib import Path

import pytest
import torch

from fstvideo import JohnsonNet, NetConfig, build_net, load_style, save_style
from fstvideo.train.distill import DistillConfig, distill, distill_loss

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def copy_photos(tmp_path: Path, n: int) -> Path:
    """The first ``n`` shared photos in a fresh folder (skips the test without ../shared)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    src = sorted((SHARED / "photos").glob("*.jpg"))[:n] if (SHARED / "photos").is_dir() else []
    if not src:
        pytest.skip("../shared/photos not present")
    for p in src:
        (photos / p.name).write_bytes(p.read_bytes())
    return photos


def random_vgg(path: Path) -> Path:
    """A VGG16 weights file with random He-initialised convs (all 13: the loader checks them)."""
    from safetensors.torch import save_file

    from fstvideo.train.vgg import layer_names
    g, vgg, cin = torch.Generator().manual_seed(0), {}, 3
    for _, i in layer_names("vgg16"):
        cout = 64 if i < 5 else 128 if i < 10 else 256 if i < 17 else 512
        vgg[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5
        vgg[f"features.{i}.bias"], cin = torch.zeros(cout), cout
    save_file(vgg, str(path))
    return path


def painting_teacher(tmp_path: Path, **config) -> str:
    """A tiny teacher whose training config names the shared starry_night painting (style weight
    1000, painting at 64 px, ``config`` added), with random VGG16 weights at tmp_path/vgg.safetensors;
    skips the test without ../shared/styles."""
    painting = SHARED / "styles" / "starry_night.jpg"
    if not painting.is_file():
        pytest.skip("../shared/styles not present")
    random_vgg(tmp_path / "vgg.safetensors")
    torch.manual_seed(0)
    tiny = build_net(NetConfig(widths=(8, 16, 16), blocks=1))
    training = {"config": {"styles": [str(painting)], "style_size": 64, **config}, "style_weights": [1000.0]}
    return str(save_style(tmp_path / "starry_night.safetensors", tiny, "starry_night", training=training))


def test_distill_loss_known_answers():
    x = torch.rand(2, 3, 8, 8)
    assert float(distill_loss(x, x, 1.0)) == 0.0
    # A constant offset changes pixels by 0.5 and no gradient.
    assert float(distill_loss(x + 0.5, x, 1.0)) == pytest.approx(0.5, abs=1e-6)


def test_distill_two_teachers_into_one_student(tmp_path):
    photos = copy_photos(tmp_path, 3)
    tiny = NetConfig(widths=(8, 16, 16), blocks=1)
    teachers = []
    for i in range(2):
        torch.manual_seed(i)
        teachers.append(str(save_style(tmp_path / f"t{i}.safetensors", build_net(tiny), f"t{i}")))
    losses = []
    cfg = DistillConfig(teachers=tuple(teachers), data=str(photos), out=str(tmp_path / "s.safetensors"),
                        net=NetConfig(widths=(8, 8, 16), blocks=1, outer_kernel=3, depthwise=True),
                        teacher_size=48, crop=32, batch_size=4, iterations=60, lr=5e-3, save_every=40)
    out = distill(cfg, log=lambda line: losses.append(line))
    student = load_style(out)
    # save_every: a snapshot part-way (s_step40), none at the last step (that is `out` itself)
    assert sorted(p.name for p in tmp_path.glob("s_step*")) == ["s_step40.safetensors"]
    assert load_style(tmp_path / "s_step40.safetensors").meta["training"]["steps"] == 40
    assert student.meta["training"]["steps"] == 60
    assert student.styles == ("t0", "t1") and student.config.n_styles == 2
    assert student.meta["training"]["method"] == "distillation"
    assert student.meta["training"]["final_loss"] < 0.5


def test_distill_every_slot_of_a_multi_style_teacher(tmp_path):
    photos = copy_photos(tmp_path, 2)
    torch.manual_seed(0)
    teacher = save_style(tmp_path / "multi.safetensors", build_net(NetConfig(widths=(8, 16, 16), blocks=1,
                         n_styles=3)), "multi", styles=["a", "b", "photo"])
    cfg = DistillConfig(teachers=(str(teacher),), data=str(photos), out=str(tmp_path / "s.safetensors"),
                        net=NetConfig(widths=(8, 8, 16), blocks=1, outer_kernel=3, depthwise=True),
                        teacher_size=48, crop=32, batch_size=4, iterations=10, lr=5e-3)
    student = load_style(distill(cfg, log=lambda line: None))
    assert student.styles == ("a", "b", "photo") and student.name == "multi_fast"


def test_distill_photo_slot_targets_the_photo(tmp_path, monkeypatch):
    from fstvideo.train import distill as d
    photos = copy_photos(tmp_path, 2)
    torch.manual_seed(0)
    teachers = [str(save_style(tmp_path / f"t{i}.safetensors", build_net(NetConfig(widths=(8, 16, 16), blocks=1)),
                               f"t{i}")) for i in range(2)]
    seen = []
    real_batch = d.pair_crops
    monkeypatch.setattr(d, "pair_crops", lambda pairs, *a: seen.append(pairs) or real_batch(pairs, *a))
    cfg = DistillConfig(teachers=tuple(teachers), data=str(photos), out=str(tmp_path / "s.safetensors"),
                        net=NetConfig(widths=(8, 8, 16), blocks=1, outer_kernel=3, depthwise=True),
                        teacher_size=48, crop=32, batch_size=4, iterations=3, photo_slot=True)
    student = load_style(distill(cfg, log=lambda line: None))
    assert student.styles == ("t0", "t1", "photo") and student.name == "multi_fast"
    assert all(torch.equal(x, y) for x, y in seen[0][2])  # the photo slot's target is the photo
    assert student.meta["training"]["style_weights"][2] == 0.0


def test_distill_through_the_fast_path_with_a_gram_loss(tmp_path, monkeypatch):
    # student_scale 0.5: the student sees half-size crops and its guided-upsampled output is scored
    # at full size; gram_weight adds a VGG16 (random weights here) texture term, feature_weight a
    # relu2_2 term against the teacher's output, lattice_weight, spectral_weight and hatch_weight
    # penalties on periodic patterns; init resumes a student.
    from fstvideo.train import distill as d
    photos = copy_photos(tmp_path, 2)
    random_vgg(tmp_path / "vgg.safetensors")
    torch.manual_seed(0)
    teacher = str(save_style(tmp_path / "t.safetensors", build_net(NetConfig(widths=(8, 16, 16), blocks=1)), "t"))
    seen = []
    real = JohnsonNet.forward
    monkeypatch.setattr(JohnsonNet, "forward",
                        lambda self, x, *a: seen.append(tuple(x.shape)) or real(self, x, *a))
    student_net = NetConfig(widths=(8, 8, 16), blocks=1, outer_kernel=3, depthwise=True)
    cfg = DistillConfig(teachers=(teacher,), data=str(photos), out=str(tmp_path / "s.safetensors"), net=student_net,
                        teacher_size=48, crop=32, batch_size=2, iterations=4, student_scale=0.5,
                        gram_weight=1.0, feature_weight=0.5, lattice_weight=100.0, spectral_weight=1.0,
                        hatch_weight=10.0, vgg_weights=str(tmp_path / "vgg.safetensors"))
    first = load_style(d.distill(cfg, log=lambda line: None))
    assert (2, 3, 16, 16) in seen and (2, 3, 32, 32) not in seen  # the student only ran at half size
    assert first.meta["training"]["distill"]["gram_weight"] == 1.0
    assert first.meta["training"]["distill"]["feature_weight"] == 0.5
    assert first.meta["training"]["distill"]["lattice_weight"] == 100.0
    assert first.meta["training"]["distill"]["spectral_weight"] == 1.0
    assert first.meta["training"]["distill"]["hatch_weight"] == 10.0
    again = d.distill(DistillConfig(**{**cfg.__dict__, "init": str(first.path), "iterations": 1,
                                       "out": str(tmp_path / "s2.safetensors")}), log=lambda line: None)
    assert load_style(again).styles == first.styles
    with pytest.raises(d.DistillError):
        d.distill(DistillConfig(**{**cfg.__dict__, "init": teacher, "out": str(tmp_path / "s3.safetensors")}),
                  log=lambda line: None)


def test_distill_with_the_teachers_own_painting_loss(tmp_path, monkeypatch):
    # painting_weight: the teacher's training loss against its painting (named in its training
    # config) and the photo; pixel_weight 0 drops the L1 term, lowpass_weight keeps the palette;
    # the photo slot gets a zero Gram target at weight 0. A teacher naming no painting: DistillError.
    from fstvideo.train import distill as d
    photos = copy_photos(tmp_path, 2)
    teacher = painting_teacher(tmp_path, content_weight=1.0, tv_weight=1.0)
    tiny = build_net(NetConfig(widths=(8, 16, 16), blocks=1))
    grams = []
    real = d.painting_grams
    monkeypatch.setattr(d, "painting_grams", lambda t, slot, v: grams.append(slot) or real(t, slot, v))
    cfg = DistillConfig(teachers=(teacher,), data=str(photos), out=str(tmp_path / "s.safetensors"),
                        net=NetConfig(widths=(8, 8, 16), blocks=1, outer_kernel=3, depthwise=True),
                        teacher_size=48, crop=32, batch_size=2, iterations=3, photo_slot=True, pixel_weight=0.0,
                        painting_weight=1.0, lowpass_weight=30.0, out_lr_scale=0.01,
                        vgg_weights=str(tmp_path / "vgg.safetensors"))
    student = load_style(d.distill(cfg, log=lambda line: None))
    assert grams == ["starry_night"]  # one painting; the photo slot has none
    assert student.styles == ("starry_night", "photo")
    assert student.meta["training"]["distill"]["painting_weight"] == 1.0
    assert student.meta["training"]["distill"]["lowpass_weight"] == 30.0
    # photo_share 0: the style slot gets every crop (the photo slot is slot 1)
    picked = []
    real_batch = d.pair_crops

    def spy(pairs, *a):
        out = real_batch(pairs, *a)
        picked.append(out[2])
        return out
    monkeypatch.setattr(d, "pair_crops", spy)
    d.distill(DistillConfig(**{**cfg.__dict__, "photo_share": 0.0, "out": str(tmp_path / "s1.safetensors")}),
              log=lambda line: None)
    assert picked and all(int(s.max()) == 0 for s in picked)
    with pytest.raises(d.DistillError, match="photo-share"):
        d.distill(DistillConfig(**{**cfg.__dict__, "photo_share": 1.0, "out": str(tmp_path / "s1.safetensors")}),
                  log=lambda line: None)
    bare = str(save_style(tmp_path / "bare.safetensors", tiny, "bare"))
    with pytest.raises(d.DistillError, match="painting"):
        d.distill(DistillConfig(**{**cfg.__dict__, "teachers": (bare,), "out": str(tmp_path / "s2.safetensors")}),
                  log=lambda line: None)


def test_painting_style_scale_is_linear_in_the_first_step_loss(tmp_path):
    # Same seed, same first batch: the logged first-step loss is content + TV + scale * style, so
    # scales 0, 1, 2 give equally spaced losses, and the spacing (the style term) is positive.
    import re

    from fstvideo.train import distill as d
    photos = copy_photos(tmp_path, 2)
    teacher = painting_teacher(tmp_path)
    losses = []
    for scale in (0.0, 1.0, 2.0):
        lines = []
        d.distill(DistillConfig(teachers=(teacher,), data=str(photos), out=str(tmp_path / f"s{scale}.safetensors"),
                                net=NetConfig(widths=(8, 8, 16), blocks=1, outer_kernel=3, depthwise=True),
                                teacher_size=48, crop=32, batch_size=2, iterations=1, pixel_weight=0.0,
                                painting_weight=1.0, painting_style_scale=scale,
                                vgg_weights=str(tmp_path / "vgg.safetensors")), log=lines.append)
        losses.append(float(re.search(r"loss ([0-9.]+)", lines[-1]).group(1)))
    assert losses[1] - losses[0] > 1e-3
    assert losses[2] - losses[1] == pytest.approx(losses[1] - losses[0], abs=3e-4)
