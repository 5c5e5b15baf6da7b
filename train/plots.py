"""Figures of a training run: loss curves (matplotlib, imported lazily: only when a curve is drawn)
and sample sheets."""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from fstvideo.model import StyleNet


def plot_history(history: list[list[float]], path: Path, title: str) -> Path:
    """Log-scale PNG of the weighted losses in a Trainer history (rows: step, content, style, tv,
    stability, total), each smoothed by a moving average over ~2% of the run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [h[0] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    k = max(1, len(steps) // 50)  # batch losses are noisy
    for col, label in ((1, "content"), (2, "style"), (3, "tv"), (4, "stability"), (5, "total")):
        v = [h[col] for h in history]
        if max(v) <= 0:
            continue
        sm = [sum(v[max(0, i - k + 1): i + 1]) / (i + 1 - max(0, i - k + 1)) for i in range(len(v))]
        ax.plot(steps, sm, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("weighted loss")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".tmp-" + path.name)
    fig.savefig(tmp, format="png")
    plt.close(fig)
    os.replace(tmp, path)
    return path


@torch.no_grad()
def sample_sheet(net: StyleNet, photos: torch.Tensor, path: Path) -> Path:
    """PNG: per row one of ``photos`` (``Bx3xHxW``) | its stylization in each of ``net``'s styles.
    ``net`` runs in eval mode and is put back in training mode."""
    from PIL import Image
    device = next(net.parameters()).device
    n = net.config.n_styles
    net.eval()
    rows = []
    for x in photos:
        x = x[None].to(device)
        outs = [x] + [net(x, F.one_hot(torch.tensor([i]), n).float().to(device)).clamp(0, 1) for i in range(n)]
        rows.append(torch.cat(outs, dim=3))
    net.train()
    img = (torch.cat(rows, dim=2)[0].permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype("uint8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".tmp-" + path.name)
    Image.fromarray(img).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path
