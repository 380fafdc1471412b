#!/usr/bin/python3
"""bench:zero, PyTorch side: the [CORE] bench model (the batched form of scripts/bench/core_torch.py)
as an nn.Module under DistributedDataParallel (gloo), with torch.optim.AdamW ("ddp") or
ZeroRedundancyOptimizer(AdamW) ("zero1"), fp32, the harness's global batch (the config JSON's
"shape": {"batch", "seqLen"}, BENCH_SHAPE in src/bench/core_config.ts) split over the ranks,
clipping 1.0, one torch thread per rank (OMP_NUM_THREADS from bench:zero), eager autograd with the
full T x T attention scores. DDP runs with its defaults (25 MB buckets, all-reduce overlapped with
backward). Started by telechat-launch (env:// rendezvous). Rank 0 prints one JSON line like
src/bench/zero_worker.ts: the best step time of STEPS timed steps after one warm-up, and every
rank's peak RSS.

Usage: /usr/bin/python3 scripts/bench/zero_torch.py CONFIG_JSON ddp|zero1 STEPS
"""
import json
import math
import os
import resource
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.optim import ZeroRedundancyOptimizer
from torch.nn.parallel import DistributedDataParallel

from torch_build import torch_build


class BenchModel(torch.nn.Module):
    def __init__(self, cfg, seq_len):
        super().__init__()
        H, L, Fd, V = cfg["hidden_size"], cfg["n_layer"], cfg["ffn_hidden_size"], cfg["vocab_size"]
        self.H, self.L, self.V, self.nh = H, L, V, cfg["n_head"]
        self.hd = H // self.nh
        P = torch.nn.Parameter
        w = lambda *shape: P(torch.randn(*shape) * 0.02)  # noqa: E731
        self.emb, self.lm, self.lnf = w(V, H), w(V, H), P(torch.ones(H))
        self.blocks = torch.nn.ModuleList()
        for _ in range(L):
            b = torch.nn.Module()
            b.ln1, b.q, b.kv, b.o, b.ob = P(torch.ones(H)), w(H, H), w(2 * H, H), w(H, H), P(torch.zeros(H))
            b.ln2, b.g, b.u, b.d, b.db = P(torch.ones(H)), w(Fd, H), w(Fd, H), w(H, Fd), P(torch.zeros(H))
            self.blocks.append(b)
        inv_freq = 1.0 / (10000 ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        freqs = torch.arange(seq_len, dtype=torch.float32)[:, None] * inv_freq[None]
        emb = torch.cat((freqs, freqs), dim=-1)
        # plain attributes, not buffers: constants DDP need not broadcast (gloo has no bool)
        self.cos, self.sin = emb.cos(), emb.sin()
        self.mask = torch.ones(seq_len, seq_len, dtype=torch.bool).tril()

    def rms(self, x, wt):
        return wt * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5))

    def rope(self, x):  # [B, nh, T, hd]
        x1, x2 = x[..., : self.hd // 2], x[..., self.hd // 2:]
        return x * self.cos + torch.cat((-x2, x1), dim=-1) * self.sin

    def forward(self, ids):
        B, T = ids.shape
        H, nh, hd = self.H, self.nh, self.hd
        x = self.emb[ids]
        for b in self.blocks:
            h = self.rms(x, b.ln1)
            q = (h @ b.q.t()).view(B, T, nh, hd).transpose(1, 2)
            kv = (h @ b.kv.t()).view(B, T, nh, 2 * hd).transpose(1, 2)
            k, v = kv[..., :hd], kv[..., hd:]
            s = (self.rope(q) @ self.rope(k).transpose(-1, -2)) / math.sqrt(hd)
            p = torch.softmax(s.masked_fill(~self.mask, float("-inf")), dim=-1)
            ctx = (p @ v).transpose(1, 2).reshape(B, T, H)
            x = x + ctx @ b.o.t() + b.ob
            h = self.rms(x, b.ln2)
            x = x + (F.silu(h @ b.g.t()) * (h @ b.u.t())) @ b.d.t() + b.db
        logits = self.rms(x, self.lnf) @ self.lm.t()
        return F.cross_entropy(logits[:, :-1].reshape(-1, self.V), ids[:, 1:].reshape(-1))


def main():
    cfg = json.loads(sys.argv[1])
    which = sys.argv[2]
    steps = int(sys.argv[3])
    dist.init_process_group("gloo", init_method="env://")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    torch.manual_seed(1)
    if "shape" not in cfg:
        raise SystemExit('zero_torch.py: the config JSON has no "shape" ({"batch": B, "seqLen": T}); the harness passes its '
                         "BENCH_SHAPE so that both sides run the same tokens")
    batch, T = int(cfg["shape"]["batch"]), int(cfg["shape"]["seqLen"])
    per_rank = batch // world
    model = BenchModel(cfg, T)
    ddp = DistributedDataParallel(model)
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}]
    if which == "ddp":
        opt = torch.optim.AdamW(groups, lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    elif which == "zero1":
        opt = ZeroRedundancyOptimizer(groups, optimizer_class=torch.optim.AdamW, lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    else:
        raise SystemExit(f"zero_torch.py: unknown optimizer {which!r} (ddp, zero1)")
    V = cfg["vocab_size"]
    rows = range(rank * per_rank, (rank + 1) * per_rank)
    ids = torch.tensor([[(r * 7919 + i * 104729) % V for i in range(T)] for r in rows])
    best = float("inf")
    for s in range(steps + 1):  # step 0 warms up
        dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = ddp(ids)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dist.barrier()
        if s > 0:
            best = min(best, time.perf_counter() - t0)
    rss = torch.zeros(world, dtype=torch.float64)
    rss[rank] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    dist.all_reduce(rss)
    if rank == 0:
        print(json.dumps({"side": f"pytorch {which}", "ranks": world, "torch": torch.__version__, "build": torch_build(),
                          "threads": torch.get_num_threads(), "batch": batch, "seq_len": T, "step_s": best,
                          "tokens_per_s": batch * T / best, "peak_rss_mb": rss.tolist()}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
