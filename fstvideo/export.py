"""``fstvideo export STYLE --onnx OUT.onnx``: the transformer net as an ONNX graph with dynamic
batch/height/width, checked against the torch output before the file is kept.

Graph input ``input``: Bx3xHxW float32 RGB in [0, 1], H and W multiples of the net's
``multiple`` (4; 8 for the fast net) (pad by reflection as the Stylizer does). Output
``output``: same shape, clamp to [0, 1] for display. A multi-style file is exported with its
current blend baked in (``--style a:0.5,b:0.5``).
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import OptionsError
from .styles import Style
from .stylizer import blend_weights


@dataclass(frozen=True)
class ExportResult:
    path: Path
    max_abs_diff: float   # |onnx - torch| on the check input, [0,1] units
    checked_with: str     # "onnxruntime" or "onnx.reference"


class _Frozen(torch.nn.Module):
    """The net with its style blend fixed, so the graph takes only the image."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _run_onnx(path: Path, x: np.ndarray) -> tuple[np.ndarray, str]:
    try:
        import onnxruntime as ort
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return sess.run(None, {"input": x})[0], "onnxruntime"
    except ImportError:
        from onnx.reference import ReferenceEvaluator
        outputs = ReferenceEvaluator(str(path)).run(None, {"input": x})
        assert isinstance(outputs, list)  # a dict only with intermediate=True
        return outputs[0], "onnx.reference"


def export_onnx(style: Style, out: str | os.PathLike, blend: tuple[tuple[str, float], ...] = (),
                check_size: tuple[int, int] = (64, 80), tolerance: float = 1e-3) -> ExportResult:
    """Export ``style`` to ``out`` (written to a temp file, checked, then renamed)."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise OptionsError("ONNX export needs the onnx package: pip install 'fstvideo[export]'") from None
    out = Path(out)
    net = style.build("cpu")
    net.set_mix(blend_weights(style, blend))
    model = _Frozen(net).eval()
    x = torch.rand(1, 3, *check_size, generator=torch.Generator().manual_seed(0))
    fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=".onnx", dir=out.parent if str(out.parent) else ".")
    os.close(fd)
    tmp = Path(name)
    try:
        h, w = torch.export.Dim("height", min=4), torch.export.Dim("width", min=4)
        # Symbolic H, W as m*k, m = net.multiple: the stride-2 convs (and space-to-depth) need it.
        m = net.multiple
        dyn = {"x": {0: torch.export.Dim("batch", min=1, max=64), 2: m * h, 3: m * w}}
        program = torch.onnx.export(model, (x,), dynamo=True, dynamic_shapes=dyn, verbose=False,
                                    input_names=["input"], output_names=["output"])
        assert program is not None  # the dynamo exporter always returns one
        program.save(str(tmp))
        with torch.inference_mode():
            ref = model(x).numpy()
        got, how = _run_onnx(tmp, x.numpy())
        diff = float(np.abs(got - ref).max())
        if not diff <= tolerance:
            raise OptionsError(f"ONNX output differs from torch by {diff:.2e} (> {tolerance}); not written")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(path=out, max_abs_diff=diff, checked_with=how)


def _handler(args) -> int:
    from .cli import parse_blend
    from .styles import load_style
    spec, blend = parse_blend(args.style)
    out = Path(args.onnx)
    if out.is_dir():
        raise OptionsError(f"output {out} is a folder; give a file name")
    if out.exists() and not args.overwrite:
        raise OptionsError(f"{out} exists (use --overwrite to replace it)")
    if blend:
        from .cli import multi_style_for
        spec = multi_style_for([n for n, _ in blend])
    result = export_onnx(load_style(spec), args.onnx, blend=blend)
    print(f"wrote {result.path} (max |onnx - torch| = {result.max_abs_diff:.2e}, checked with {result.checked_with})")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="export a style as an ONNX model")
    p.add_argument("style", help="style name, .safetensors path, or blend 'a:0.6,b:0.4'")
    p.add_argument("--onnx", required=True, help="output .onnx path")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=_handler)
