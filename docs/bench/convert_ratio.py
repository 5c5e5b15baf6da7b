"""Model-only (one frame on 2 threads; two 1-thread workers) against `convert` (workers 2, x264 ultrafast)
on the same clip, in interleaved rounds (this VM drifts minute to minute): python docs/bench/convert_ratio.py CLIP [ROUNDS]."""
import sys, time, torch, tempfile, os
from concurrent.futures import ThreadPoolExecutor
from fstvideo.media import open_media
from fstvideo.stylizer import Stylizer, StylizerOptions
from fstvideo.pipeline import convert, ConvertOptions
from fstvideo.mediabase import VideoOptions
src = sys.argv[1]
with open_media(src) as s: frames = [f for f, _ in s]
st = Stylizer("starry_night_fast", StylizerOptions())
for f in frames[:4]: st(f)
def one():
    torch.set_num_threads(2); t = time.perf_counter()
    for f in frames: st(f)
    return len(frames) / (time.perf_counter() - t)
def two():
    torch.set_num_threads(1); t = time.perf_counter()
    with ThreadPoolExecutor(2) as p: list(p.map(st, frames))
    torch.set_num_threads(2); return len(frames) / (time.perf_counter() - t)
def e2e():
    d = tempfile.mkdtemp()
    r = convert(src, os.path.join(d, "o.mp4"), st, options=ConvertOptions(workers=2, video=VideoOptions(preset="ultrafast")))
    return r.fps
for rep in range(int(sys.argv[2]) if len(sys.argv) > 2 else 3):
    a, b, c = one(), two(), e2e()
    print(f"model 1x2 threads {a:.1f}  model 2x1 thread {b:.1f}  convert {c:.1f}  ratio {c/a:.2f} / {c/max(a,b):.2f}")
