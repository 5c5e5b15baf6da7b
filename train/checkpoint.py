"""Training checkpoints: written atomically (a temp file renamed), read with weights-only unpickling.

A checkpoint holds only tensors, numbers, strings and lists (``torch.load(weights_only=True)``
reads them); the TrainConfig travels as JSON.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from .config import TrainConfig, TrainError


def atomic_torch_save(obj, dest: Path) -> None:
    """``torch.save(obj)`` to ``dest`` through a temp file beside it: a stop leaves the old file or the new one."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=dest.suffix, dir=dest.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Checkpoint dict (weights-only unpickling: tensors, numbers, strings, lists, dicts), its
    ``config`` a TrainConfig."""
    try:
        ck = torch.load(str(path), map_location="cpu", weights_only=True)
        ck["config"] = TrainConfig.from_dict(json.loads(ck["config"]))
    except FileNotFoundError:
        raise TrainError(f"checkpoint not found: {path}") from None
    except Exception as e:
        raise TrainError(f"{path}: not a fstvideo training checkpoint ({str(e).splitlines()[0][:100]})") from None
    return ck
