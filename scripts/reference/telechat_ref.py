#!/usr/bin/python3
"""PyTorch reference for TeleChat checkpoints: random init, and forward + loss + autograd gradients.

Run with /usr/bin/python3 (Debian torch 1.13, CPU). Independent of the TypeScript implementation;
the math lives in telechat_model.py, the file format in safetensors_io.py.

  telechat_ref.py init --config CONFIG.json --out DIR --seed N [--dtype fp32|bf16|fp16] [--std S]
      DIR/config.json (byte copy of CONFIG) and DIR/model.safetensors with every parameter of the
      layout under its HF name and shape: weights ~ N(0, std) (default 0.2), norm weights
      1 + N(0, 0.1), biases N(0, 0.1), drawn in fp32 in checkpoint order from torch.manual_seed(N)
      then cast to --dtype. Tied embeddings: no lm_head.weight.
  telechat_ref.py run --model DIR --batch BATCH.json --out OUT.safetensors
                      [--dtype fp32|bf16|fp64] [--max-seq-len N] [--no-grad]
                      [--hidden-dropout P --dropout-seed S --dropout-step K]
      BATCH = {"rows": [{"input_ids": [...], "labels": [...], "doc_lens": [...], "global_row": g}, ...]}
      ("global_row", default the row's index, only seeds dropout).
      OUT: "logits" F32 [sum of row lengths, V] (rows concatenated; 52B includes the muP factor),
      "loss_sum" F64 [1], "label_count" F64 [1], and unless --no-grad "grad.<HF name>" F32 with
      the parameter's shape = d(loss_sum / label_count)/d(param). fp64 is an extra for exact checks.
      Parameters are cast to --dtype and the whole forward runs in it (bf16: RMSNorm and softmax
      inside in fp32, like the HF code), RoPE NTK evaluated at max(--max-seq-len, training length),
      --max-seq-len defaulting to the longest row. --hidden-dropout P > 0 runs the training-mode
      residual dropout (after the attention output projection and after the MLP, as TeleChat's
      dropout_add) with the masks of dropout_mask.py for (S, K, layer, branch, global row, position).

Layout: 52B when the config has `n_embd`, else v1/TeleChat2. Test-only knob: config key
"_name_prefix" (default "transformer.") replaces the prefix of every name except lm_head.weight;
"_name_prefix": "" gives the prefix-less 7B names (h.0...., word_embeddings.weight, ln_f.weight).
Exit status 1 with one clear message on a bad config, batch or checkpoint; outputs are written to a
temporary name and renamed, so a failure leaves no partial output.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dropout_mask import kept, stream_key  # noqa: E402
from safetensors_io import SafetensorsError, load_file, save_file  # noqa: E402
from telechat_model import IGNORE, ConfigError, ModelConfig, evaluate  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16, "fp64": torch.float64}


class InputError(Exception):
    pass


def read_json(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}:{e.lineno}:{e.colno}: bad JSON: {e.msg}") from None


def write_atomic(path, write):
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# ----------------------------------------------------------------------------- init

def init_params(cfg, seed, std, dtype):
    gen = torch.Generator().manual_seed(seed)
    params = {}
    for name, shape, kind in cfg.param_specs():
        r = torch.randn(shape, generator=gen, dtype=torch.float32)
        if kind == "weight":
            t = r * std
        elif kind == "norm":
            t = 1.0 + 0.1 * r
        else:
            t = 0.1 * r
        params[name] = t.to(dtype)
    return params


def cmd_init(args):
    cfg = ModelConfig(read_json(args.config), path=args.config)
    if not args.std > 0:
        raise InputError(f"--std must be positive, got {args.std}")
    params = init_params(cfg, args.seed, args.std, DTYPES[args.dtype])
    os.makedirs(args.out, exist_ok=True)
    write_atomic(os.path.join(args.out, "model.safetensors"), lambda p: save_file(params, p, {"format": "pt"}))
    write_atomic(os.path.join(args.out, "config.json"), lambda p: shutil.copyfile(args.config, p))


# ----------------------------------------------------------------------------- run

def load_checkpoint(cfg, model_dir):
    """{name: tensor} for exactly the layout's parameters; fails on missing/unexpected/mis-shaped."""
    index_path = os.path.join(model_dir, "model.safetensors.index.json")
    single = os.path.join(model_dir, "model.safetensors")
    tensors, origin = {}, {}
    if os.path.exists(index_path):
        index = read_json(index_path)
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict):
            raise InputError(f"{index_path}: missing object 'weight_map'")
        for shard in sorted(set(weight_map.values())):
            shard_path = os.path.join(model_dir, shard)
            for name, t in load_file(shard_path).items():
                tensors[name], origin[name] = t, shard_path
        for name, shard in weight_map.items():
            if name not in tensors:
                raise InputError(f"{index_path}: tensor {name!r} is mapped to {shard} but not stored there")
    elif os.path.exists(single):
        for name, t in load_file(single).items():
            tensors[name], origin[name] = t, single
    else:
        raise InputError(f"{model_dir}: neither model.safetensors nor model.safetensors.index.json exists")
    params = {}
    for name, shape, _ in cfg.param_specs():
        if name not in tensors:
            raise InputError(f"{model_dir}: missing tensor {name!r} ({cfg.layout} layout)")
        if list(tensors[name].shape) != shape:
            raise InputError(f"{origin[name]}: tensor {name!r} has shape {list(tensors[name].shape)}, expected {shape}")
        if not tensors[name].is_floating_point():
            raise InputError(f"{origin[name]}: tensor {name!r} is not floating point ({tensors[name].dtype})")
        params[name] = tensors[name]
    extra = [n for n in tensors if n not in params and not cfg.ignorable(n)]
    if extra:
        raise InputError(f"{origin[extra[0]]}: unexpected tensor {extra[0]!r} for the {cfg.layout} layout"
                         f" (tied={cfg.tied}, prefix={cfg.prefix!r})")
    return params


def _int_list(row, key, where):
    v = row.get(key)
    if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise InputError(f"{where}: key {key!r} must be a list of integers")
    return v


def read_batch(path, vocab):
    batch = read_json(path)
    rows = batch.get("rows") if isinstance(batch, dict) else None
    if not isinstance(rows, list) or not rows:
        raise InputError(f"{path}: key 'rows' must be a non-empty list")
    out = []
    for r, row in enumerate(rows):
        where = f"{path}: rows[{r}]"
        if not isinstance(row, dict):
            raise InputError(f"{where} must be an object")
        ids = _int_list(row, "input_ids", where)
        labels = _int_list(row, "labels", where)
        docs = _int_list(row, "doc_lens", where)
        if not ids:
            raise InputError(f"{where}: 'input_ids' is empty")
        if len(labels) != len(ids):
            raise InputError(f"{where}: 'labels' has {len(labels)} entries, 'input_ids' {len(ids)}")
        if any(n <= 0 for n in docs) or sum(docs) != len(ids):
            raise InputError(f"{where}: 'doc_lens' {docs} must be positive and sum to {len(ids)}")
        bad = next((x for x in ids if not 0 <= x < vocab), None)
        if bad is not None:
            raise InputError(f"{where}: input id {bad} is outside the vocabulary [0, {vocab})")
        bad = next((x for x in labels if x != IGNORE and not 0 <= x < vocab), None)
        if bad is not None:
            raise InputError(f"{where}: label {bad} is neither {IGNORE} nor in [0, {vocab})")
        global_row = row.get("global_row", r)
        if not isinstance(global_row, int) or isinstance(global_row, bool) or global_row < 0:
            raise InputError(f"{where}: 'global_row' must be a non-negative integer")
        out.append({"input_ids": ids, "labels": labels, "doc_lens": docs, "global_row": global_row})
    return out


def residual_dropout(row, p, seed, step, dtype):
    """drop(layer, branch, h) for one row: h * mask * 1/(1-p), masks from dropout_mask.py."""
    T = len(row["input_ids"])
    rows = np.full(T, row["global_row"], dtype=np.int64)
    positions = np.arange(T, dtype=np.int64)
    scale = 1.0 / (1.0 - p)

    def drop(layer, branch, h):
        mask = kept(stream_key(seed, step, layer, branch), rows, positions, h.shape[-1], p)
        return h * (torch.from_numpy(mask).to(h.dtype) * scale)
    return drop


def cmd_run(args):
    config_path = os.path.join(args.model, "config.json")
    cfg = ModelConfig(read_json(config_path), path=config_path)
    dtype = DTYPES[args.dtype]
    params = {n: t.to(dtype) for n, t in load_checkpoint(cfg, args.model).items()}
    rows = read_batch(args.batch, cfg.vocab)
    longest = max(len(r["input_ids"]) for r in rows)
    rope_len = longest if args.max_seq_len is None else args.max_seq_len
    if rope_len < longest:
        raise InputError(f"--max-seq-len {rope_len} is shorter than the longest row ({longest} tokens)")
    dropout_for_row = None
    if args.hidden_dropout > 0:
        if not args.hidden_dropout < 1:
            raise InputError(f"--hidden-dropout {args.hidden_dropout} must be below 1")

        def dropout_for_row(r):
            return residual_dropout(rows[r], args.hidden_dropout, args.dropout_seed, args.dropout_step, dtype)
    res = evaluate(cfg, params, rows, dtype, rope_len, want_grad=not args.no_grad, dropout_for_row=dropout_for_row)
    out = {
        "logits": res["logits"].to(torch.float32),
        "loss_sum": torch.tensor([res["loss_sum"]], dtype=torch.float64),
        "label_count": torch.tensor([res["label_count"]], dtype=torch.float64),
    }
    if res["grads"] is not None:
        for name, _, _ in cfg.param_specs():
            out["grad." + name] = res["grads"][name].to(torch.float32)
    write_atomic(args.out, lambda p: save_file(out, p, {"format": "pt"}))
    count = res["label_count"]
    print(json.dumps({"loss": res["loss_sum"] / count if count else 0.0, "label_count": count,
                      "layout": cfg.layout, "tokens": int(out["logits"].shape[0])}))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="telechat_ref.py", description="TeleChat PyTorch reference")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("init", help="write a random checkpoint for CONFIG")
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32")
    p.add_argument("--std", type=float, default=0.2)
    p = sub.add_parser("run", help="forward, loss and gradients of a packed batch")
    p.add_argument("--model", required=True)
    p.add_argument("--batch", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", choices=["fp32", "bf16", "fp64"], default="fp32")
    p.add_argument("--max-seq-len", type=int, default=None)
    p.add_argument("--no-grad", action="store_true")
    p.add_argument("--hidden-dropout", type=float, default=0.0, help="training-mode residual dropout probability")
    p.add_argument("--dropout-seed", type=int, default=0)
    p.add_argument("--dropout-step", type=int, default=1)
    args = ap.parse_args(argv)
    try:
        (cmd_init if args.cmd == "init" else cmd_run)(args)
    except (ConfigError, InputError, SafetensorsError) as e:
        print(f"telechat_ref.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
