"""Where the ``fstvideo bench`` commands save what they print: whole files or none (temp + rename)."""
from __future__ import annotations

import json
import os
from pathlib import Path


def save_atomic(path: Path, write) -> Path:
    """``write(tmp)`` into a hidden temp file beside ``path`` (same suffix: formats follow it), then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".tmp-" + path.name)
    write(tmp)
    os.replace(tmp, path)
    return path


def save_table(path: Path, text: str, data=None) -> Path:
    """``text`` to ``path`` and, given ``data``, the same as JSON to ``path`` with suffix .json."""
    save_atomic(path, lambda p: p.write_text(text + "\n"))
    if data is not None:
        save_atomic(Path(path).with_suffix(".json"), lambda p: p.write_text(json.dumps(data, indent=1)))
    return Path(path)
