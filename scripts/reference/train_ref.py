#!/usr/bin/python3
"""PyTorch training reference: the same model (telechat_model.py), the same global batches,
torch.optim.AdamW with norm/bias parameters excluded from weight decay, global-norm clipping,
and a learning-rate schedule evaluated here from its formula. CPU.

  train_ref.py --model DIR --steps STEPS.json --out OUT.json --final FINAL.safetensors
               --lr LR --betas B1,B2 --eps EPS --weight-decay WD --clip MAX_NORM
               [--schedule constant|warmup_cosine|hf_cosine] [--warmup W] [--total T]
               [--cos-min-ratio R] [--warmup-min-ratio R] [--warmup-type linear|log]
               [--max-seq-len N] [--dtype fp32|bf16]

--dtype bf16 is mixed precision as DeepSpeed's bf16 mode (and ours) does it: fp32 master weights
and Adam moments; each step casts them to bf16, runs forward and backward in bf16 (RMSNorm and
softmax inside in fp32, as telechat_model.py does) and accumulates the gradients in fp32, where
clipping and the update happen; products sum in fp32 and round once (telechat_model.py's mm, as
oneDNN's and cuBLAS's bf16 GEMMs do, on any CPU). Run next to --dtype fp32 on the same batches, it
gives PyTorch's own bf16 error, the yardstick of a 16-bit trajectory (test/train/train_parity.test.ts). fp16 has
no CPU matrix multiply in this torch, so there is no fp16 run.

STEPS = {"steps": [{"rows": [{"input_ids", "labels", "doc_lens"}, ...]}, ...]}: one global batch
per optimizer step. The step's loss is the sum of token cross-entropies over every label token
of the global batch divided by their number, and its gradient is that loss's gradient: the
micro-batch split is not modelled here, which is what the framework's own split must match.
Learning rate of update k (0-based): Hugging Face schedules (a LambdaLR, which steps once when
built) use lambda(k); DeepSpeed's WarmupCosineLR starts at last_batch_iteration -1, where it
sets lr 0, and steps after each update, so update k uses its formula at iteration k - 1.

OUT = {"loss": [...], "lr": [...], "grad_norm": [...]} per step; FINAL = parameters after the
last step (HF names, F32).
"""
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save_file  # noqa: E402
from telechat_model import ModelConfig, evaluate  # noqa: E402
from telechat_ref import load_checkpoint, read_json  # noqa: E402


def schedule_ratio(args, it):
    """Multiplier of the base lr at scheduler iteration `it` (0-based)."""
    if args.schedule == "constant":
        return 1.0
    W, T = args.warmup, args.total
    if args.schedule == "hf_cosine":  # transformers.get_cosine_schedule_with_warmup
        if it < W:
            return it / max(1, W)
        progress = (it - W) / max(1, T - W)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    # DeepSpeed WarmupCosineLR, evaluated at last_batch_iteration = it - 1
    it = it - 1
    if it < 0:
        return 0.0
    if it < W:
        if args.warmup_type == "log":
            ratio = math.log(it + 1) / math.log(W)
        else:
            ratio = it / W
        return args.warmup_min_ratio + ratio * (1.0 - args.warmup_min_ratio)
    real_step = it - W + 1
    real_total = T - W
    ratio = (1 + math.cos(math.pi * real_step / real_total)) / 2
    return max(0.0, args.cos_min_ratio + (1.0 - args.cos_min_ratio) * ratio)


def decays(name):
    """Weight decay applies to matrices and embeddings, not to norms and biases."""
    return not (name.endswith(".bias") or "layernorm" in name or "ln_" in name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--steps", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--final", required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--betas", default="0.9,0.999")
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--clip", type=float, default=0.0)
    ap.add_argument("--schedule", default="constant", choices=["constant", "warmup_cosine", "hf_cosine"])
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--total", type=int, default=1)
    ap.add_argument("--cos-min-ratio", type=float, default=1e-4)
    ap.add_argument("--warmup-min-ratio", type=float, default=0.0)
    ap.add_argument("--warmup-type", default="log", choices=["linear", "log"])
    ap.add_argument("--max-seq-len", type=int, default=0)
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))

    cfg = ModelConfig(read_json(os.path.join(args.model, "config.json")), os.path.join(args.model, "config.json"))
    params = {n: t.to(torch.float32).clone().requires_grad_(True) for n, t in load_checkpoint(cfg, args.model).items()}
    betas = tuple(float(b) for b in args.betas.split(","))
    groups = [
        {"params": [p for n, p in params.items() if decays(n)], "weight_decay": args.weight_decay},
        {"params": [p for n, p in params.items() if not decays(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=betas, eps=args.eps, foreach=False)
    compute = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    steps = read_json(args.steps)["steps"]
    out = {"loss": [], "lr": [], "grad_norm": []}
    for s, batch in enumerate(steps):
        rows = batch["rows"]
        rope_len = max(args.max_seq_len, max(len(r["input_ids"]) for r in rows))
        res = evaluate(cfg, {n: p.detach().to(compute) for n, p in params.items()}, rows, compute, rope_len, True)
        for n, p in params.items():
            p.grad = res["grads"][n].clone()
        norm = torch.nn.utils.clip_grad_norm_(list(params.values()), args.clip if args.clip > 0 else float("inf"))
        lr = args.lr * schedule_ratio(args, s)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        out["loss"].append(res["loss_sum"] / res["label_count"])
        out["lr"].append(lr)
        out["grad_norm"].append(float(norm))
    with open(args.out, "w") as f:
        json.dump(out, f)
    save_file({n: p.detach().contiguous() for n, p in params.items()}, args.final)


if __name__ == "__main__":
    main()
