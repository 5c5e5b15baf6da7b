from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_distill import SHARED, copy_photos, random_vgg

from fstvideo import NetConfig, build_net, save_style
from fstvideo.cli import main


def _styles(tmp_path: Path) -> tuple[Path, Path]:
    painting = SHARED / "styles" / "starry_night.jpg"
    if not painting.is_file():
        pytest.skip("../shared/styles not present")
    training = {"config": {"styles": [str(painting)], "style_names": ["tiny"], "style_size": 64, "content_weight": 1.0},
                "style_weights": [1000.0]}
    torch.manual_seed(0)
    full = save_style(tmp_path / "tiny.safetensors", build_net(NetConfig(widths=(8, 16, 16), blocks=1)),
                      "tiny", styles=["tiny"], training=training)
    fast = save_style(tmp_path / "tiny_fast.safetensors",
                      build_net(NetConfig(widths=(8, 8, 16), blocks=1, outer_kernel=3, depthwise=True)),
                      "tiny_fast", styles=["tiny"])
    return full, fast


def test_compare_a_style_with_itself_is_zero_percent(tmp_path, capsys):
    # Known answer: the reference against itself; the table's totals are the sums of its rows.
    import json
    full, _ = _styles(tmp_path)
    photos = copy_photos(tmp_path, 2)
    vgg = random_vgg(tmp_path / "vgg.safetensors")
    assert main(["bench", "compare", str(photos), "--style", str(full), "--reference", str(full), "--size", "48",
                 "--vgg-weights", str(vgg), "--json", "--save", str(tmp_path / "c.txt")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["change_pct"] == {"content": 0.0, "style": 0.0} and len(out["rows"]) == 2
    assert out["total"]["reference"]["style"] == pytest.approx(sum(r["reference"]["style"] for r in out["rows"]))
    assert out["total"]["reference"]["content"] > 0 and out["style_weight"] == 1000.0
    assert (tmp_path / "c.txt").read_text().strip() == json.dumps(out)
    # the measures no net trains on, per photo and as the worst photo's (not a sum)
    for who in ("reference", "candidate"):
        assert {"lattice", "blob", "grid"} <= set(out["rows"][0][who]) and {"lattice", "blob"} <= set(out["total"][who])
    assert out["total"]["reference"]["lattice"] == max(r["reference"]["lattice"] for r in out["rows"])


def test_compare_fast_file_defaults_to_its_full_model_and_writes_a_sheet(tmp_path, capsys, monkeypatch):
    # "<name>_fast" is compared with "<name>" by default (here found by path next to it).
    from fstvideo.bench import compare as c
    full, fast = _styles(tmp_path)
    photos = copy_photos(tmp_path, 2)
    vgg = random_vgg(tmp_path / "vgg.safetensors")
    monkeypatch.setattr(c, "reference_of", lambda style: str(full) if style.name == "tiny_fast" else None)
    sheet, crops = tmp_path / "sheet.png", tmp_path / "crops.png"
    assert main(["bench", "compare", *map(str, sorted(photos.iterdir())), "--style", str(fast), "--size", "48",
                 "--vgg-weights", str(vgg), "--sheet", str(sheet), "--save", str(tmp_path / "c.txt"),
                 "--crops", str(crops), "--crop-size", "16"]) == 0
    text = capsys.readouterr().out
    assert "tiny_fast vs tiny [tiny]" in text and "candidate vs reference: content" in text
    assert "lattice ref" in text and "blob ref" in text and "lattice: 1 - D(p)" in text
    im = np.asarray(Image.open(sheet))
    assert im.shape[0] == 2 * 256 and im.shape[1] >= 3 * 256 * 0.5  # two photos, three tiles each
    # two photos, one row each of 2 places x 3 crops of 16 px, 4 px apart
    assert np.asarray(Image.open(crops)).shape == (2 * 16 + c.GAP, 6 * 16 + 5 * c.GAP, 3)


def test_compare_pieces_and_bad_input(tmp_path, capsys):
    from fstvideo.bench.compare import photo_paths, sheet
    from fstvideo.errors import OptionsError
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    assert photo_paths([str(tmp_path)]) == [tmp_path / "a.jpg"]
    with pytest.raises(OptionsError):
        photo_paths([str(tmp_path / "missing.jpg")])
    tiles = [np.zeros((10, 20, 3), np.uint8), np.full((10, 20, 3), 255, np.uint8), np.zeros((10, 20, 3), np.uint8)]
    out = sheet([tiles, tiles], height=20)
    assert out.shape == (40, 120, 3) and out[:, 40:80].min() == 255 and out[:, :40].max() == 0
    full, _ = _styles(tmp_path)
    assert main(["bench", "compare", str(tmp_path / "a.jpg"), "--style", str(full)]) == 2  # no _fast: needs --reference
    assert "--reference" in capsys.readouterr().err
    assert main(["bench", "compare", str(tmp_path / "a.jpg"), "--style", str(full), "--crop-size", "8"]) == 2
    assert "--crop-size" in capsys.readouterr().err


def test_crop_sheet_is_100_percent_pixels_at_the_flattest_window():
    # Known answer: left half noise, right half flat grey -> the flat crop lies in the right half;
    # every crop is the source slice itself (no resampling), the centre crop the middle.
    from fstvideo.bench.compare import GAP, crop_places, crop_sheet
    rng = np.random.default_rng(0)
    photo = np.full((40, 64, 3), 120, np.uint8)
    photo[:, :32] = rng.integers(0, 256, (40, 32, 3), dtype=np.uint8)
    ref, cand = (rng.integers(0, 256, photo.shape, dtype=np.uint8) for _ in range(2))
    (fy, fx), (cy, cx) = crop_places(photo, 16)
    assert fx >= 32 and (cy, cx) == (12, 24)
    out = crop_sheet([[photo, ref, cand]], 16)
    assert out.shape == (16, 6 * 16 + 5 * GAP, 3)
    for i, (y, x) in enumerate([(fy, fx), (cy, cx)]):
        for j, t in enumerate((photo, ref, cand)):
            left = (3 * i + j) * (16 + GAP)
            assert np.array_equal(out[:, left:left + 16], t[y:y + 16, x:x + 16])
    assert out[:, :16].min() == out[:, :16].max() == 120  # the photo's flat crop is flat
    assert crop_places(photo[:10, :12], 16) == [(0, 0), (0, 0)]  # a crop never exceeds the image
