from pathlib import Path

import pytest
import torch

from fstvideo import NetConfig, TransformerNet, load_style, save_style
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
        teachers.append(str(save_style(tmp_path / f"t{i}.safetensors", TransformerNet(tiny), f"t{i}")))
    losses = []
    cfg = DistillConfig(teachers=tuple(teachers), data=str(photos), out=str(tmp_path / "s.safetensors"),
                        net=NetConfig(widths=(8, 8, 16), blocks=1, outer_kernel=3, depthwise=True),
                        teacher_size=48, crop=32, batch_size=4, iterations=60, lr=5e-3)
    out = distill(cfg, log=lambda line: losses.append(line))
    student = load_style(out)
    assert student.styles == ("t0", "t1") and student.config.n_styles == 2
    assert student.meta["training"]["method"] == "distillation"
    assert student.meta["training"]["final_loss"] < 0.5


def test_distill_every_slot_of_a_multi_style_teacher(tmp_path):
    photos = copy_photos(tmp_path, 2)
    torch.manual_seed(0)
    teacher = save_style(tmp_path / "multi.safetensors", TransformerNet(NetConfig(widths=(8, 16, 16), blocks=1,
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
    teachers = [str(save_style(tmp_path / f"t{i}.safetensors", TransformerNet(NetConfig(widths=(8, 16, 16), blocks=1)),
                               f"t{i}")) for i in range(2)]
    seen = []
    real_batch = d._batch
    monkeypatch.setattr(d, "_batch", lambda pairs, *a: seen.append(pairs) or real_batch(pairs, *a))
    cfg = DistillConfig(teachers=tuple(teachers), data=str(photos), out=str(tmp_path / "s.safetensors"),
                        net=NetConfig(widths=(8, 8, 16), blocks=1, outer_kernel=3, depthwise=True),
                        teacher_size=48, crop=32, batch_size=4, iterations=3, photo_slot=True)
    student = load_style(distill(cfg, log=lambda line: None))
    assert student.styles == ("t0", "t1", "photo") and student.name == "multi_fast"
    assert all(torch.equal(x, y) for x, y in seen[0][2])  # the photo slot's target is the photo
    assert student.meta["training"]["style_weights"][2] == 0.0


def test_teacher_pairs_at_student_scale(tmp_path):
    # scale 0.5: the student sees the photo at half size and the target is the teacher's full-size
    # output brought to that size (what `convert --fast` reconstructs with guided upsampling).
    from PIL import Image

    from fstvideo.train.distill import teacher_pairs
    rng = torch.Generator().manual_seed(0)
    img = (torch.rand(60, 80, 3, generator=rng) * 255).to(torch.uint8).numpy()
    Image.fromarray(img).save(tmp_path / "p.png")
    calls = []

    def teacher(x):
        calls.append(tuple(x.shape[-2:]))
        return 1 - x

    (x1, y1), = teacher_pairs(teacher, [tmp_path / "p.png"], 80)
    (xh, yh), = teacher_pairs(teacher, [tmp_path / "p.png"], 80, scale=0.5)
    assert calls == [(60, 80), (60, 80)]  # the teacher always runs at full size
    assert x1.shape == (3, 60, 80) and xh.shape == yh.shape == (3, 32, 40)
    assert torch.allclose(yh, 1 - xh, atol=1e-5)  # downscaling commutes with this teacher
