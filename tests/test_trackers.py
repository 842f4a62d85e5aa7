"""Watching a run the way people do: a run's scalars go to TensorBoard (and to W&B, offline, where it is installed), and
what those tools read back is what `metrics.csv` says, step for step.

A tiny GPT (2 layers x 2 heads x 32, as in test_train.py) trains 30 steps in-process on the first 100k characters of
Tiny Shakespeare; the event files are read back with TensorBoard's own `EventAccumulator`. TensorBoard stores scalars
as float32, so the values must equal the CSV's rounded to float32. The W&B run's data file is read back too (its
history holds the CSV's values exactly). Skips, saying why, where tensorboard or wandb (dev extras) is not installed.
"""
import json, time
from pathlib import Path

import numpy as np
import pytest

from aic_gpt.train import train
from aic_gpt.metrics import read_metrics

TAGS = ("train_loss", "val_loss", "lr")      # what metrics.csv and the trackers both hold
STEPS = 30


@pytest.fixture(scope="module")
def tiny(tiny_files):
    "A folder with the tiny model's YAML and corpus (conftest's `tiny_files`), and the config of a 30-step run that logs every step."
    d, files = tiny_files
    base = dict(**files, block_size=16, batch_size=4, max_iters=STEPS,
                warmup_iters=5, log_interval=1, eval_interval=10, eval_iters=2, ckpt_interval=STEPS, ckpt_minutes=0.0,
                keep_last=1, num_threads=1, progress=False, sample_tokens=0, tensorboard=False, wandb=False)
    return d, base


def expected(rows, tag):
    "(step, value) pairs of one column of metrics.csv, where it has a value."
    return [(r["step"], r[tag]) for r in rows if r.get(tag) is not None]


def test_tensorboard_has_the_runs_scalars(tiny):
    "TensorBoard's event files hold the same steps and values (as float32) as metrics.csv, for loss, val loss and lr."
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (dev extras): the TensorBoard logs were not checked")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    d, base = tiny
    out = d / "tb_run"
    r = train(**{**base, "tensorboard": True}, out_dir=str(out))
    assert r.step == STEPS and r.stopped == "done"
    events = sorted((out / "tb").glob("events.out.tfevents.*"))
    assert events, f"no TensorBoard event file in {out / 'tb'}"
    acc = EventAccumulator(str(out / "tb"), size_guidance={"scalars": 0})   # 0: keep every point
    acc.Reload()
    rows = read_metrics(out)
    assert [x["step"] for x in rows] == list(range(1, STEPS + 1))
    for tag in TAGS:
        assert tag in acc.Tags()["scalars"], f"TensorBoard has no {tag!r}: {acc.Tags()['scalars']}"
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        want = [(s, float(np.float32(v))) for s, v in expected(rows, tag)]
        assert [s for s, _ in got] == [s for s, _ in want], f"{tag}: TensorBoard's steps differ from metrics.csv's"
        assert got == want, f"{tag}: TensorBoard's values differ from metrics.csv's (as float32)"
    assert len(expected(rows, "val_loss")) == STEPS // base["eval_interval"]


def test_wandb_offline_run(tiny, monkeypatch):
    "wandb=True with WANDB_MODE=offline writes a local run under out_dir/wandb, holding the run's config and history."
    pytest.importorskip("wandb", reason="wandb is not installed (`pip install wandb`): the W&B offline run was not checked")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    monkeypatch.setenv("WANDB_ERROR_REPORTING", "false")
    d, base = tiny
    out = d / "wandb_run"
    r = train(**{**base, "wandb": True}, out_dir=str(out))
    assert r.step == STEPS and r.stopped == "done"
    runs = sorted((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, f"expected one offline run in {out / 'wandb'}, found {runs}"
    data = list(runs[0].glob("run-*.wandb"))
    assert data, f"the offline run {runs[0]} has no data file"
    deadline = time.monotonic() + 30    # wandb's service process may still be writing the file after finish() returns
    while True:
        records = wandb_records(data[0])
        if records is None: return      # a data file this reader does not know: finding the run is the check then
        if any(rec.WhichOneof("record_type") == "exit" for rec in records): break
        assert time.monotonic() < deadline, f"the offline run's data file {data[0]} has no exit record after 30s"
        time.sleep(0.2)
    run = next(rec.run for rec in records if rec.WhichOneof("record_type") == "run")
    config = {u.key: json.loads(u.value_json) for u in run.config.update}
    assert config["max_iters"] == STEPS and config["model"] == base["model"], config
    history = {}
    for rec in records:
        if rec.WhichOneof("record_type") == "history":
            items = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in rec.history.item}
            history[int(items["_step"])] = items
    rows = read_metrics(out)
    assert sorted(history) == [x["step"] for x in rows]
    for tag in TAGS:
        want = expected(rows, tag)
        got = [(step, history[step][tag]) for step in sorted(history) if tag in history[step]]
        assert got == want, f"W&B's {tag} differs from metrics.csv"


def wandb_records(path: Path) -> list | None:
    """The records of an offline run's data file (`run-*.wandb`), or None where it is not the format read here.

    The file is W&B's header (`:W&B`, 3 bytes more) then LevelDB's log format: 32 KiB blocks of records, each a
    4-byte checksum, 2-byte length, 1-byte type (1 whole, 2 first, 3 middle, 4 last part) and the bytes of one
    `wandb_internal_pb2.Record`. wandb 0.31 reads it in its Go core only, so it is read here."""
    try: from wandb.proto import wandb_internal_pb2
    except ImportError: return None
    buf = path.read_bytes()
    if buf[:4] != b":W&B": return None
    pos, block, out, part = 7, 32768, [], b""
    try:
        while pos + 7 <= len(buf):
            left = block - pos % block
            if left < 7: pos += left; continue        # a block's tail too short for a record header is padding
            n, kind = int.from_bytes(buf[pos + 4:pos + 6], "little"), buf[pos + 6]
            if pos + 7 + n > len(buf): break            # a record still being written: the file so far
            part += buf[pos + 7:pos + 7 + n]; pos += 7 + n
            if kind in (1, 4):
                rec = wandb_internal_pb2.Record(); rec.ParseFromString(part); out.append(rec); part = b""
            elif kind not in (2, 3): break
    except Exception: return None                      # not this format after all (protobuf's DecodeError, ...)
    return out
