"""Training under torchrun: two gloo processes on CPU give the losses of one process with the
same global batch, only rank 0 writes files, and a run resumes under another process
count (tiny crops, random VGG weights)."""
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_distill import random_vgg
from test_train import cfg, fake_vgg

from fstvideo.errors import FstError
from fstvideo.model import FAST_CONFIG
from fstvideo.train import distributed
from fstvideo.train.trainer import Trainer, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def data(tmp_path):
    """tmp_path with photos/ (3 small photos) and stripes.png (the painting), as cfg expects."""
    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    for i in range(3):
        a = np.zeros((48, 40, 3), np.uint8)
        a[:, : 20 + 5 * i] = rng.integers(0, 255, 3)
        Image.fromarray(a).save(tmp_path / "photos" / f"p{i}.png")
    s = np.zeros((40, 40, 3), np.uint8)
    s[::4] = (250, 200, 20)
    Image.fromarray(s).save(tmp_path / "stripes.png")
    return tmp_path


def torchrun(*args: str, **popen) -> subprocess.Popen:
    """``fstvideo train ARGS`` as 2 gloo processes under torchrun (its own free port)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "fstvideo.cli", "train", *args]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)


def config(root: Path, **kw):
    """A fast-net config the CLI reproduces from its checkpoint (stability on: noise is drawn too)."""
    return cfg(root, net=FAST_CONFIG, batch_size=4, lr=1e-3, stability_weight=1.0, sample_every=2, checkpoint_every=1,
               vgg_weights=str(random_vgg(root / "vgg.safetensors")), device="cpu", **kw)


def assert_same_losses(history, ref_history, exact: slice):
    """The same steps, and the losses of the ``exact`` rows (steps taken from the same weights and
    optimiser state) equal to float rounding. Later rows drift apart: Adam turns rounding-sized
    differences of ~0 gradients into full-size steps (on this tiny net one process with 1 and with
    2 threads differs by ~1e-4 at step 4 and ~1e-2 at step 6)."""
    n = len(history)
    assert [h[0] for h in history] == [h[0] for h in ref_history[:n]]
    got, ref = np.array(history)[:, 1:], np.array(ref_history)[:n, 1:]
    assert np.allclose(got[exact], ref[exact], rtol=1e-5, atol=1e-7)
    return got, ref


def assert_same_streams(ck: dict, t: Trainer):
    """The checkpoint holds exactly ``t.step`` steps: its crop, style and noise streams are where
    ``t``'s are (no partial step drawn), and Adam made as many updates."""
    assert ck["step"] == t.step
    assert ck["data_rng"] == t.data.state()
    assert torch.equal(ck["gen_rng"], t.gen.get_state())
    assert all(int(s["step"]) == t.step for s in ck["opt"]["state"].values())


def test_two_processes_continue_one_process_run_exactly(data):
    """1 -> 2 processes: a one-process checkpoint at step 2 resumed by two processes to step 4
    matches one process training straight to 4; one writer, one log line."""
    c = config(data, iterations=4)
    ref = Trainer(c)
    for _ in range(2):
        ref.train_step()
    ck = ref.save_checkpoint()
    while ref.step < 4:
        ref.train_step()
    run = data / "run2"
    p = torchrun("--resume", str(ck), "--run-dir", str(run), "-o", str(data / "two.safetensors"))
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]
    assert sum(line.startswith("wrote ") for line in out.splitlines()) == 1, out
    assert err.count("2 processes (gloo, cpu): global batch 4, 2 per process") == 1, err[-3000:]
    assert sorted(f.name for f in run.iterdir()) == ["checkpoint.pt", "loss.png", "sample-000004.png"]
    assert not list(data.glob(".tmp-*")) and (data / "two.safetensors").is_file()
    two = load_checkpoint(run / "checkpoint.pt")
    assert two["step"] == 4
    assert_same_streams(two, ref)
    got, want = assert_same_losses(two["history"], ref.history, exact=slice(2, 3))  # step 3: 2 processes
    assert np.allclose(got, want, rtol=1e-2)  # step 4, after the 2-process update


def test_killed_two_process_run_resumes_in_one(data):
    """2 -> 1 processes: SIGTERM to torchrun mid-run; rank 0's last checkpoint holds whole steps
    that match one process's, and one process resumes it where the stream left off."""
    c = config(data, iterations=10_000)
    p = torchrun("--style", c.styles[0], "--data", c.data, "--fast", "--image-size", "32", "--style-size", "40",
                 "--batch-size", "4", "--iterations", "10000", "--lr", "0.001", "--seed", "3", "--stability", "1",
                 "--checkpoint-every", "1", "--sample-every", "2", "--run-dir", c.run_dir, "-o", c.out,
                 "--vgg-weights", c.vgg_weights, "--precision", "fp32", "--device", "cpu", start_new_session=True)
    ck = Path(c.run_dir) / "checkpoint.pt"
    try:
        deadline = time.monotonic() + 300
        while not (ck.exists() and load_checkpoint(ck)["step"] >= 2):
            assert p.poll() is None and time.monotonic() < deadline, p.communicate()[1][-3000:]
            time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    # rank 0 saved a last checkpoint on the way out and said so (torchrun adds its own traceback)
    assert p.returncode != 0 and f"continue with --resume {ck}" in err, err[-3000:]
    saved = load_checkpoint(ck)
    k = saved["step"]
    # The run's own config (the CLI's defaults), so the reference sees the same options.
    cfg1 = replace(saved["config"], run_dir=str(data / "ref"), iterations=k + 1)
    ref = Trainer(cfg1)
    while ref.step < k:
        ref.train_step()
    assert_same_streams(saved, ref)
    assert_same_losses(saved["history"], ref.history, exact=slice(0, 2))
    one = Trainer(cfg1, resume=ck)
    assert one.step == k
    one.train_step()
    ref.train_step()
    assert one.step == k + 1 and one.data.state() == ref.data.state()
    assert torch.equal(one.gen.get_state(), ref.gen.get_state())


def test_batch_split_and_indivisible_batch(data, monkeypatch):
    world = distributed.World(rank=1, size=2)
    assert distributed.local_rows(6, world) == slice(3, 6)
    assert distributed.world_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}) == world
    with pytest.raises(FstError, match="RANK 2 outside"):
        distributed.world_from_env({"RANK": "2", "WORLD_SIZE": "2"})
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(FstError, match="global batch.*divisible by the 2 processes"):
        Trainer(cfg(data, batch_size=3), vgg_state=fake_vgg())


def test_rows_of_a_batch_are_the_whole_batchs_rows(data):
    from fstvideo.train.data import PhotoCrops
    whole = PhotoCrops(data / "photos", 16, seed=5).batch(4)
    parts = [PhotoCrops(data / "photos", 16, seed=5) for _ in range(2)]
    got = torch.cat([p.batch(4, distributed.local_rows(4, distributed.World(r, 2))) for r, p in enumerate(parts)])
    assert torch.equal(got, whole)
    assert all(p.state() == parts[0].state() for p in parts)
