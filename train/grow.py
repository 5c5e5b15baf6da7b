"""Widen a trained net without changing what it computes (Net2Net, Chen et al. 2016, "Net2Net:
Accelerating Learning via Knowledge Transfer", here in its simplest, zero-init form).

It gives a polished fast student more channels to go on training, instead of distilling a wider
one from scratch (hours on the 2-core CPU). Only channel counts may differ (``widths`` and
``fine``): every old weight is copied into the leading slice of the wider tensor, every weight that
reads a new channel is zero, and the new channels' own weights keep their fresh initialisation,
so the wider net's output equals the old one's until training moves the zeros. Pixel shuffles
stay aligned: the new channels of a conv that feeds ``pixel_shuffle(r)`` are its last ``r^2 *
new`` outputs, which shuffle into the last ``new`` channels.
"""
from __future__ import annotations

from dataclasses import replace

import torch

from fstvideo.model import NetConfig, StyleNet, build_net


def can_grow(small: NetConfig, big: NetConfig) -> bool:
    """True when ``big`` is ``small`` with the same or more channels at every width (and fine)."""
    same = replace(big, widths=small.widths, fine=small.fine) == small
    wider = all(b >= s for b, s in zip(big.widths, small.widths)) and big.fine >= small.fine
    # PyramidNet: its decoder adds encoder features channel by channel; the widening here is
    # written and tested for the shuffle and Johnson nets only
    return same and wider and (small.fine > 0) == (big.fine > 0) and not small.pyramid


def grow(state: dict[str, torch.Tensor], small: NetConfig, big: NetConfig, seed: int = 0) -> StyleNet:
    """A ``big`` net computing what ``state`` (of a ``small`` net) computes. Raises ValueError when
    ``big`` is not ``small`` widened (:func:`can_grow`)."""
    if not can_grow(small, big):
        raise ValueError(f"cannot grow {small} into {big}: only widths and fine may grow")
    with torch.random.fork_rng():  # the new channels' init is seeded; the caller's RNG state is left alone
        torch.manual_seed(seed)
        net = build_net(big)
    new = net.state_dict()
    for key, old in state.items():
        t = new[key].clone()
        if t.shape != old.shape:
            if t.ndim == 4 and t.shape[1] > old.shape[1]:
                t[:, old.shape[1]:] = 0  # conv weights reading new channels: off until trained
        t[tuple(slice(0, n) for n in old.shape)] = old.to(t.dtype)
        new[key] = t
    net.load_state_dict(new)
    return net
