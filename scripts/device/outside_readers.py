#!/usr/bin/env python3
"""GPU check stage "outside" (check_cuda.sh): readers we did not write load what telechat-train
wrote. The GPU machine's Python has TensorBoard and Hugging Face's safetensors; this machine has
neither, so only there do they read our files:

- TensorBoard's EventAccumulator reads every events file of RUN/tensorboard/*/ and finds the same
  (tag, step, value) scalars as our own standard-library reader (scripts/reference/
  tfevents_reader.py, which the suite checks against src/observe/tensorboard.ts), none lost or
  added, and the loss series equals metrics.jsonl's losses (as float32, in order);
- safetensors.safe_open reads every *.safetensors of RUN/final and RUN/adapter (when there) with
  the names, shapes, dtypes and values our reader (scripts/reference/safetensors_io.py) gets.

  python3 scripts/device/outside_readers.py RUN_DIR OUT_JSONL [--self-test]

--self-test puts our own reader in TensorBoard's place and leaves safetensors out: the suite runs
it that way (test/e2e/device_scripts.test.ts), so everything but the outside readers' calls is
exercised on every CI run. Exit 1 when a check fails.
"""
import glob
import json
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import tfevents_reader  # noqa: E402

failed = 0


def record(out, row):
    global failed
    if row.get("pass") is False:
        failed += 1
    line = json.dumps(row)
    out.write(line + "\n")
    out.flush()
    print(line[:2000], flush=True)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def tensorboard_scalars(path, self_test):
    """[(tag, step, value)] of one events file, read by TensorBoard (or, in a self-test, by ours)."""
    if self_test:
        return [(s["tag"], s["step"], float(s["value"])) for s in tfevents_reader.read_file(path)["scalars"]]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(path, size_guidance={"scalars": 0})  # 0: keep every point
    acc.Reload()
    return [(tag, e.step, e.value) for tag in acc.Tags()["scalars"] for e in acc.Scalars(tag)]


def check_tensorboard(run, out, self_test):
    files = sorted(glob.glob(os.path.join(run, "tensorboard", "*", "events.out.tfevents.*")))
    reader = "our reference reader (self-test)" if self_test else "tensorboard EventAccumulator"
    if not files:
        record(out, {"check": "outside tensorboard", "pass": False, "error": f"no events file under {run}/tensorboard/*/"})
        return
    ours_all = []
    for path in files:
        ref = tfevents_reader.read_file(path)
        ours = sorted((s["tag"], s["step"], float(s["value"])) for s in ref["scalars"])
        theirs = sorted(tensorboard_scalars(path, self_test))
        equal = len(ours) == len(theirs) and all(a[0] == b[0] and a[1] == b[1] and same(a[2], b[2]) for a, b in zip(ours, theirs))
        record(out, {"check": "outside tensorboard reads the events file", "reader": reader, "file": os.path.basename(path),
                     "pass": equal and ref["error"] is None and len(ours) > 0, "scalars": len(theirs), "ours": len(ours),
                     "our_reader_error": ref["error"], "first_difference": next((list(map(str, p)) for p in zip(ours, theirs) if p[0] != p[1]), None)})
        ours_all += ref["scalars"]
    losses = [json.loads(line)["loss"] for line in open(os.path.join(run, "metrics.jsonl")) if line.strip()]
    series = sorted((s for s in ours_all if s["tag"] == "Train/Samples/train_loss"), key=lambda s: s["step"])
    logged = [float(s["value"]) for s in series]
    record(out, {"check": "outside tensorboard loss series = metrics.jsonl", "pass": len(logged) == len(losses) and all(same(a, f32(b)) for a, b in zip(logged, losses)),
                 "points": len(logged), "metrics_steps": len(losses)})


def check_safetensors(run, out):
    from safetensors import safe_open
    from safetensors_io import load_file

    files = sorted(glob.glob(os.path.join(run, "final", "*.safetensors")) + glob.glob(os.path.join(run, "adapter", "*.safetensors")))
    if not files:
        record(out, {"check": "outside safetensors", "pass": False, "error": f"no *.safetensors in {run}/final or {run}/adapter"})
        return
    for path in files:
        ours = load_file(path)
        problems = []
        with safe_open(path, framework="pt") as f:
            keys = set(f.keys())
            if keys != set(ours):
                problems.append(f"names differ: {sorted(keys ^ set(ours))[:5]}")
            for name in sorted(keys & set(ours)):
                t = f.get_tensor(name)
                o = ours[name]
                if t.dtype != o.dtype or list(t.shape) != list(o.shape) or not bool((t.view(-1) == o.view(-1)).all()):
                    problems.append(f"{name}: {t.dtype} {list(t.shape)} vs {o.dtype} {list(o.shape)}")
        record(out, {"check": "outside safetensors reads the file", "file": os.path.relpath(path, run), "tensors": len(ours),
                     "pass": not problems, "problems": problems[:5]})


def main():
    args = [a for a in sys.argv[1:] if a != "--self-test"]
    self_test = "--self-test" in sys.argv[1:]
    run, out_path = args
    with open(out_path, "a") as out:
        try:
            check_tensorboard(run, out, self_test)
        except Exception as e:  # an outside reader that cannot run at all is a failed check, said
            record(out, {"check": "outside tensorboard", "pass": False, "error": f"{type(e).__name__}: {e}"})
        if not self_test:
            try:
                check_safetensors(run, out)
            except Exception as e:
                record(out, {"check": "outside safetensors", "pass": False, "error": f"{type(e).__name__}: {e}"})
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
