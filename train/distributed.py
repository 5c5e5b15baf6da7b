"""Data-parallel training across processes started by ``torchrun`` (one per GPU, or several CPU
processes): PyTorch DistributedDataParallel (Li et al. 2020, "PyTorch Distributed: Experiences on
Accelerating Data Parallel Training") around the transformer net only; the frozen VGG loss network
is a local copy in every process.

Every process draws the same global batch from the same seeded stream and keeps its own
contiguous slice of it (:func:`local_rows`). The losses are means over the batch, so the mean of
the equal-sized slices' losses is the global batch's loss, and DDP's gradient average is the
global batch's gradient: a run's losses do not depend on how many processes share it, and a
checkpoint (the global step and the one stream's state) resumes under any process count.

Without torchrun's environment (``WORLD_SIZE`` unset or 1) nothing here talks to other processes.
"""
from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from fstvideo.errors import OptionsError


@dataclass(frozen=True)
class World:
    rank: int = 0        # this process's index, 0..size-1 (torchrun's RANK)
    size: int = 1        # processes in the run, all machines together (WORLD_SIZE)
    local_rank: int = 0  # index on this machine (LOCAL_RANK): the GPU it drives

    @property
    def active(self) -> bool:
        """More than one process: gradients and losses are averaged across them."""
        return self.size > 1

    @property
    def writer(self) -> bool:
        """The one process that writes checkpoints, samples, curves and style files, and logs."""
        return self.rank == 0


def world_from_env(env: Mapping[str, str] | None = None) -> World:
    """The process's place in the run from torchrun's variables (one process without them)."""
    e = os.environ if env is None else env
    try:
        w = World(int(e.get("RANK", 0)), int(e.get("WORLD_SIZE", 1)), int(e.get("LOCAL_RANK", 0)))
    except ValueError:
        raise OptionsError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (as torchrun sets them)") from None
    if w.size < 1 or not 0 <= w.rank < w.size:
        raise OptionsError(f"RANK {w.rank} outside WORLD_SIZE {w.size}")
    return w


def local_rows(global_batch: int, world: World) -> slice:
    """This process's rows of a global batch: a contiguous ``global_batch / size`` chunk."""
    if global_batch % world.size:
        raise OptionsError(f"--batch-size {global_batch} (the global batch) must be divisible by the "
                           f"{world.size} processes")
    n = global_batch // world.size
    return slice(world.rank * n, (world.rank + 1) * n)


def backend(device_type: str) -> str:
    """NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device_type == "cuda" else "gloo"


def init(device: torch.device) -> tuple[World, torch.device]:
    """Join torchrun's process group (once per process; env:// rendezvous from MASTER_ADDR/PORT)
    and return the world and the device this process computes on: ``cuda:LOCAL_RANK`` on GPUs."""
    world = world_from_env()
    if not world.active:
        return world, device
    if device.type == "cuda":
        if world.local_rank >= torch.cuda.device_count():
            raise OptionsError(f"process {world.local_rank} on this machine has no GPU of its own "
                               f"({torch.cuda.device_count()} found): start at most that many per machine")
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend(device.type))
    return world, device


def describe(world: World, global_batch: int, device: torch.device) -> str:
    """The log line naming the split, e.g. "2 processes (gloo, cpu): global batch 8, 4 per process"."""
    return (f"{world.size} processes ({backend(device.type)}, {device.type}): global batch {global_batch}, "
            f"{global_batch // world.size} per process")


def shutdown() -> None:
    """Leave the process group (end of a command); nothing without one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(net: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """``net`` in DDP when several processes train it, else ``net`` itself. DDP broadcasts rank 0's
    weights once here. Every parameter takes part in every step (conditional instance norm mixes
    all slots' parameters), so no search for unused ones; the only buffer (the default style mix)
    is never trained, so it is not re-broadcast before each forward."""
    if not world.active:
        return net
    ddp = torch.nn.parallel.DistributedDataParallel
    sync: dict[str, Any] = {("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(ddp).parameters
                             else "broadcast_buffers"): False}  # renamed in newer torch
    # A channels_last 1x1 conv weight and its gradient differ only in the strides of size-1 dims:
    # the same memory order, which DDP's check still reports (once per process)
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    # gradient_as_bucket_view: gradients live in the all-reduce buckets (no copy, no second buffer)
    return ddp(net, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=False,
               gradient_as_bucket_view=True, **sync)


def mean_over_ranks(values: list[torch.Tensor | float], world: World) -> list[float]:
    """Each scalar averaged over the processes (one all-reduce): the global batch's loss values."""
    if not world.active:
        return [float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for v in values]
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.stack([torch.as_tensor(v, dtype=torch.float32).detach().reshape(()).to(device) for v in values])
    dist.all_reduce(t)  # SUM: gloo has no AVG
    return [float(v) / world.size for v in t.cpu()]


def any_rank(flag: bool, world: World) -> bool:
    """True when ``flag`` holds on any process: one decision for all (e.g. a time limit, where
    each process's clock differs slightly and stopping alone would leave the others waiting)."""
    return bool(flag) if not world.active else mean_over_ranks([float(flag)], world)[0] > 0
