#!/usr/bin/python3
"""Naive PyTorch causal attention (full [T, T] scores + mask + softmax, autograd backward),
timed like scripts/bench/attention_cpu.mjs. Usage: attention_torch.py T NH D THREADS REPS"""
import sys
import time

import torch

T, nh, D, threads, reps = (int(a) for a in sys.argv[1:6])
torch.set_num_threads(threads)
torch.manual_seed(0)
q, k, v = (torch.randn(nh, T, D, requires_grad=True) for _ in range(3))
dout = torch.randn(nh, T, D)
mask = torch.ones(T, T, dtype=torch.bool).tril()
best_f = best_b = float("inf")
for _ in range(reps):
    t0 = time.perf_counter()
    s = (q @ k.transpose(1, 2)) * D**-0.5
    o = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1) @ v
    t1 = time.perf_counter()
    o.backward(dout)
    t2 = time.perf_counter()
    q.grad = k.grad = v.grad = None
    best_f, best_b = min(best_f, t1 - t0), min(best_b, t2 - t1)
print(f"{best_f * 1e3:.1f} {best_b * 1e3:.1f}")
