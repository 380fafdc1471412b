#!/usr/bin/python3
"""torch.distributed reference for the ZeRO engine: the same model (telechat_model.py's layers
wrapped in an nn.Module so DistributedDataParallel's hooks see its parameters), the same
per-rank micro-batches, trained on WORLD processes over gloo on 127.0.0.1 with

  ddp   DistributedDataParallel + torch.optim.AdamW
  zero  DistributedDataParallel + torch.distributed.optim.ZeroRedundancyOptimizer(AdamW)
        (each rank updates its shard of the parameters and broadcasts it)

  ddp_ref.py --model DIR --steps STEPS.json --out OUT.json --world W --port P
             --optimizers ddp,zero [--final-prefix PATH] --lr LR --betas B1,B2 --eps EPS
             --weight-decay WD --clip MAX_NORM --warmup W --total T [--cos-min-ratio R]
             [--warmup-type linear|log] [--max-seq-len N] [--threads N]

STEPS = {"steps": [{"ranks": [[micro-batch rows, ...] per micro-step] per rank}, ...]} with rows
{"input_ids", "labels", "doc_lens"}: what the trainer's sampler gives each rank.

The loss of a step is sum(token CE over the global batch's label tokens) / (their global
count G). DDP averages gradients over ranks (sum / W), so each rank backpropagates its local
CE sum times W / G: the average of those is exactly the gradient of the global mean (W is a
power of two here, so the scaling is exact in floating point). Micro-steps before the last
run under no_sync(), so gradients are all-reduced once per step (accumulation). Global-norm
clipping runs on the all-reduced (identical) gradients on every rank. The learning rate is
DeepSpeed's WarmupCosineLR, from train_ref.py's formula.

OUT = {"ddp": {"loss": [...], "grad_norm": [...], "lr": [...]}, "zero": {...}} (rank 0 writes
it); with --final-prefix, rank 0 also saves the final parameters of each run to
PREFIX-<optimizer>.safetensors (HF names, F32).
"""
import argparse
import json
import os
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.distributed.optim import ZeroRedundancyOptimizer
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import save_file  # noqa: E402
from telechat_model import ModelConfig, forward_row, predicted_pairs  # noqa: E402
from telechat_ref import load_checkpoint, read_json  # noqa: E402
from train_ref import decays, schedule_ratio  # noqa: E402


class TelechatModule(torch.nn.Module):
    """The HF-named parameters as nn.Parameters; forward returns the micro-batch's CE sum."""

    def __init__(self, cfg, tensors, rope_len):
        super().__init__()
        self.cfg = cfg
        self.rope_len = rope_len
        self.names = list(tensors)
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(t.to(torch.float32).clone()) for t in tensors.values()])

    def named(self):
        return dict(zip(self.names, self.weights))

    def forward(self, rows):
        p = self.named()
        # a micro-batch without label tokens still touches every parameter (zero gradient),
        # so DDP's reducer sees them all ready
        total = sum(w.sum() for w in self.weights) * 0.0
        for row in rows:
            src, tgt = predicted_pairs(row["labels"], row["doc_lens"])
            if src.numel() == 0:
                continue
            ids = torch.tensor(row["input_ids"], dtype=torch.long)
            logits = forward_row(self.cfg, p, ids, row["doc_lens"], self.rope_len, torch.float32)
            total = total + F.cross_entropy(logits[src], tgt, reduction="sum")
        return total


def label_count(rows):
    return sum(int(predicted_pairs(r["labels"], r["doc_lens"])[0].numel()) for r in rows)


def train(args, rank, world, cfg, steps, which):
    rope_len = max(args.max_seq_len, max(len(r["input_ids"]) for s in steps for mbs in s["ranks"] for mb in mbs for r in mb))
    module = TelechatModule(cfg, load_checkpoint(cfg, args.model), rope_len)
    ddp = DistributedDataParallel(module)
    named = module.named()
    groups = [
        {"params": [w for n, w in named.items() if decays(n)], "weight_decay": args.weight_decay},
        {"params": [w for n, w in named.items() if not decays(n)], "weight_decay": 0.0},
    ]
    betas = tuple(float(b) for b in args.betas.split(","))
    if which == "ddp":
        opt = torch.optim.AdamW(groups, lr=args.lr, betas=betas, eps=args.eps, foreach=False)
    else:
        opt = ZeroRedundancyOptimizer(groups, optimizer_class=torch.optim.AdamW, lr=args.lr, betas=betas, eps=args.eps, foreach=False)
    out = {"loss": [], "grad_norm": [], "lr": []}
    for s, step in enumerate(steps):
        micro = step["ranks"][rank]
        counts = torch.tensor([float(sum(label_count(mb) for mb in micro))], dtype=torch.float64)
        dist.all_reduce(counts)
        global_count = float(counts[0])
        loss_sum = torch.zeros(1, dtype=torch.float64)
        opt.zero_grad(set_to_none=True)
        for m, rows in enumerate(micro):
            last = m == len(micro) - 1
            with (torch.enable_grad() if last else ddp.no_sync()):
                ce = ddp(rows)
                (ce * (world / global_count)).backward()
            loss_sum += float(ce.detach())
        dist.all_reduce(loss_sum)
        norm = torch.nn.utils.clip_grad_norm_(module.parameters(), args.clip if args.clip > 0 else float("inf"))
        lr = args.lr * schedule_ratio(args, s)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        out["loss"].append(float(loss_sum[0]) / global_count)
        out["grad_norm"].append(float(norm))
        out["lr"].append(lr)
    final = {n: w.detach().contiguous() for n, w in module.named().items()}
    return out, final


def worker(rank, args):
    torch.set_num_threads(args.threads)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(args.port)
    dist.init_process_group("gloo", rank=rank, world_size=args.world)
    try:
        cfg = ModelConfig(read_json(os.path.join(args.model, "config.json")), os.path.join(args.model, "config.json"))
        steps = read_json(args.steps)["steps"]
        for s, step in enumerate(steps):
            if len(step["ranks"]) != args.world:
                raise ValueError(f"{args.steps}: step {s} has batches for {len(step['ranks'])} ranks, --world is {args.world}")
        results = {}
        for which in args.optimizers.split(","):
            if which not in ("ddp", "zero"):
                raise ValueError(f"--optimizers: unknown {which!r} (ddp, zero)")
            results[which], final = train(args, rank, args.world, cfg, steps, which)
            if rank == 0 and args.final_prefix:
                save_file(final, f"{args.final_prefix}-{which}.safetensors")
        if rank == 0:
            with open(args.out, "w") as f:
                json.dump(results, f)
    finally:
        dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--steps", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--world", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--optimizers", default="ddp,zero")
    ap.add_argument("--final-prefix", default="")
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--betas", default="0.9,0.999")
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--clip", type=float, default=0.0)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--total", type=int, default=1)
    ap.add_argument("--cos-min-ratio", type=float, default=1e-4)
    ap.add_argument("--warmup-min-ratio", type=float, default=0.0)
    ap.add_argument("--warmup-type", default="log", choices=["linear", "log"])
    ap.add_argument("--max-seq-len", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    args.schedule = "warmup_cosine"  # what train_ref.schedule_ratio reads
    mp.spawn(worker, args=(args,), nprocs=args.world, join=True)


if __name__ == "__main__":
    main()
