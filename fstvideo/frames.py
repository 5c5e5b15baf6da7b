"""The one frame convention, and the only conversions between frames and tensors.

Between stages a *frame* is an ``HxWx3`` ``uint8`` RGB ``numpy.ndarray`` (C-contiguous).
BGR exists only inside OpenCV sources. Model tensors are float ``Bx3xHxW`` with values in
``[0, 1]`` (RGB); the transformer net takes and returns that range (its output is clamped
only when it becomes a frame again). ImageNet normalisation happens inside the VGG loss
network, never here.
"""
from __future__ import annotations

import numpy as np
import torch

# ITU-R BT.601 luma weights (R, G, B): the ones JPEG/YCbCr and OpenCV's RGB2GRAY use.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def check_frame(frame: np.ndarray) -> np.ndarray:
    """Raise ``ValueError`` unless ``frame`` is an HxWx3 uint8 array; return it unchanged."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = getattr(frame, "shape", type(frame).__name__)
        raise ValueError(f"expected an HxWx3 uint8 RGB frame, got {got} {getattr(frame, 'dtype', '')}")
    return frame


def to_tensor(frames: np.ndarray | list[np.ndarray], device: torch.device | str = "cpu",
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Frame (HxWx3) or list/array of same-sized frames (BxHxWx3) -> Bx3xHxW float in [0, 1]."""
    if isinstance(frames, np.ndarray) and frames.ndim == 3:
        frames = [frames]
    batch = np.stack([check_frame(f) for f in frames]) if isinstance(frames, list) else frames
    t = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
    # uint8 -> float on the target device: 4x less traffic than converting on the host.
    return t.permute(0, 3, 1, 2).to(dtype).div_(255.0)


def to_frames(t: torch.Tensor) -> np.ndarray:
    """Bx3xHxW float tensor in [0, 1] -> BxHxWx3 uint8 array (clamped, rounded)."""
    t = t.detach().float().clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8)
    return np.ascontiguousarray(t.permute(0, 2, 3, 1).cpu().numpy())


def to_frame(t: torch.Tensor) -> np.ndarray:
    """1x3xHxW (or 3xHxW) float tensor in [0, 1] -> HxWx3 uint8 frame."""
    if t.dim() == 3:
        t = t.unsqueeze(0)
    return to_frames(t)[0]


def luma(x: torch.Tensor) -> torch.Tensor:
    """Bx3xHxW RGB -> Bx1xHxW BT.601 luma, in ``x``'s dtype and on its device."""
    w = torch.tensor(LUMA_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)
