import json

from fstvideo.cli import main


def test_bench_speed_json_rows_and_accuracy(tmp_path, capsys):
    # The schema, with the reference row (Johnson, eager fp32) always measured; every row
    # and the accuracy block say how far the mode's output is from eager fp32 on a real frame.
    save = tmp_path / "bench" / "speed.txt"
    rc = main(["bench", "speed", "--models", "fast", "--modes", "eager-fp32,cuda-fp16", "--sizes", "64x48",
               "--repeats", "1", "--seconds", "0.2", "--frames", "3", "--json", "--save", str(save)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = {(r["model"], r["mode"]): r for r in out["rows"]}
    assert {("johnson", "eager-fp32"), ("fast", "eager-fp32")} <= set(rows)  # cuda-fp16 only with a GPU
    for r in rows.values():
        assert (r["width"], r["height"]) == (64, 48)
        for key in ("fps_model", "fps_e2e", "first_call_s", "peak_mem_mb", "diff_max", "diff_mean"):
            assert isinstance(r[key], float) and r[key] >= 0
        assert r["fps_model"] > 0 and r["fps_e2e"] > 0
    assert rows[("johnson", "eager-fp32")]["x_ref"] == 1.0
    fast = rows[("fast", "eager-fp32")]  # how many calls --seconds buys depends on the machine: see below
    assert fast["model_calls"] >= 1 and fast["e2e_frames"] >= 3
    # e2e as `convert --fast` encodes (ultrafast) and `convert` (veryfast); the ratio is e2e / model
    assert fast["e2e_preset"] == "ultrafast" and rows[("johnson", "eager-fp32")]["e2e_preset"] == "veryfast"
    assert abs(fast["e2e_ratio"] - fast["fps_e2e"] / fast["fps_model"]) < 1e-6
    assert rows[("fast", "eager-fp32")]["diff_max"] == 0.0
    if ("fast", "cuda-fp16") in rows:
        assert rows[("fast", "cuda-fp16")]["diff_mean"] < 6
    acc = {a["model"]: a for a in out["accuracy"]}
    assert set(acc) == {"fast"} and acc["fast"]["precision"] == "bf16" and acc["fast"]["diff_mean"] < 6
    assert save.exists() and json.loads(save.with_suffix(".json").read_text())["rows"]
    assert "diff max/mean" in save.read_text() and "bf16" in save.read_text()


def test_time_calls_covers_repeats_and_seconds_without_timing():
    # A fake clock: each call reads it twice, 0.125 s apart, so --seconds (not --repeats) sets the count.
    from fstvideo.bench.speed import e2e_frame_count, time_calls
    ticks = iter(range(10_000))
    clock = lambda: next(ticks) * 0.125  # noqa: E731
    calls = []
    times = time_calls(lambda: calls.append(1), repeats=1, seconds=1.0, clock=clock)
    assert len(times) == len(calls) == 8 and all(abs(t - 0.125) < 1e-9 for t in times)
    assert len(time_calls(lambda: None, repeats=5, seconds=0.0, clock=clock)) == 5
    assert len(time_calls(lambda: None, repeats=1, seconds=1e9, clock=clock, cap=7)) == 7
    # the end-to-end clip: about --seconds at the model rate, at least --frames, at most 600
    assert e2e_frame_count(3, 0.2, 0.01) == 20
    assert e2e_frame_count(3, 0.2, 1.0) == 3
    assert e2e_frame_count(3, 100.0, 0.001) == 600


def test_bench_convert_rounds_on_a_real_clip(tmp_path, capsys):
    # Interleaved rounds of model-only and convert on one decoded file; the summary is the medians
    # and their ratio; the converted file is temporary. A missing clip: one line, exit 2.
    from fstvideo.bench.speed import _make_clip
    clip = _make_clip(tmp_path / "pan.mp4", 96, 64, 6)
    save = tmp_path / "bench" / "convert.txt"
    rc = main(["bench", "convert", str(clip), "--fast", "--rounds", "2", "--json", "--save", str(save)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (out["width"], out["height"], out["frames"]) == (96, 64, 6)
    assert out["style"] == "starry_night_fast" and out["preset"] == "ultrafast"
    assert [r["round"] for r in out["rounds"]] == [1, 2]
    assert all(r["fps_model"] > 0 and r["fps_convert"] > 0 and r["frames"] == 6 for r in out["rounds"])
    assert abs(out["ratio"] - out["fps_convert"] / out["fps_model"]) < 1e-9
    assert "ratio of the medians" in save.read_text() and json.loads(save.with_suffix(".json").read_text())["rounds"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench", "pan.mp4"]
    assert main(["bench", "convert", str(tmp_path / "missing.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.mp4" in err[0]
