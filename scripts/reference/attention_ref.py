#!/usr/bin/python3
"""PyTorch reference for causal attention inside packed documents (GQA), with autograd.

Independent of the native kernel: it materialises the full [T, T] score matrix with a
block-diagonal causal mask (token i sees token j iff both lie in the same document and j <= i),
a plain softmax, and lets autograd produce the gradients. Used by test/native/attention.test.ts.

Usage: attention_ref.py DIR
  DIR/case.json  {"T", "nh", "nkv", "D", "scale", "cu_seqlens": [...], "dtypes": ["float64", "bfloat16", ...]}
  DIR/qkv.f32    raw little-endian fp32 [T, (nh + 2 nkv) D]: Q heads | K heads | V heads per row
  DIR/dout.f32   raw little-endian fp32 [T, nh D]
Writes, for every requested dtype (inputs cast to it, math done in it by torch):
  DIR/out.<dtype>.f32  [T, nh D]      attention output
  DIR/dqkv.<dtype>.f32 [T, (nh+2nkv)D] gradient of sum(out * dout) wrt qkv
  DIR/lse.<dtype>.f32  [nh, T]        logsumexp of the scaled, masked scores
all written back as fp32.

"float16": torch 1.13 has no CPU half bmm, softmax or exp, so each of those ops runs in fp32 on
the half inputs and its result is rounded to half (input gradients too, through the backward
of .float()): torch's fp16 pipeline as a CUDA half kernel with fp32 accumulation runs it.
"bfloat16" runs the same way: torch 1.13's CPU bf16 bmm sums in fp32 only through oneDNN on a CPU
with AVX512-BF16 and in bf16 elsewhere, so its own op would make the yardstick depend on the machine.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from telechat_model import in_fp32 as op  # noqa: E402  (fn(*args); 16-bit inputs computed in fp32, rounded once)

DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def block_causal_mask(cu_seqlens, T):
    doc = torch.zeros(T, dtype=torch.long)
    for d in range(len(cu_seqlens) - 1):
        doc[cu_seqlens[d]:cu_seqlens[d + 1]] = d
    pos = torch.arange(T)
    return (doc[:, None] == doc[None, :]) & (pos[None, :] <= pos[:, None])  # [query, key]


def attention(qkv, mask, nh, nkv, D, scale):
    T = qkv.shape[0]
    q = qkv[:, : nh * D].reshape(T, nh, D).transpose(0, 1)  # [nh, T, D]
    k = qkv[:, nh * D : (nh + nkv) * D].reshape(T, nkv, D).transpose(0, 1)
    v = qkv[:, (nh + nkv) * D :].reshape(T, nkv, D).transpose(0, 1)
    group = nh // nkv  # query head h uses kv head h // group
    k = k.repeat_interleave(group, dim=0)
    v = v.repeat_interleave(group, dim=0)
    s = op(torch.bmm, q, k.transpose(1, 2)) * scale
    s = s.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(s.float(), dim=-1)  # [nh, T]
    p = op(lambda x: torch.softmax(x, dim=-1), s)
    out = op(torch.bmm, p, v).transpose(0, 1).reshape(T, nh * D)
    return out, lse


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: attention_ref.py DIR")
    root = sys.argv[1]
    with open(os.path.join(root, "case.json")) as f:
        case = json.load(f)
    T, nh, nkv, D = case["T"], case["nh"], case["nkv"], case["D"]
    row = (nh + 2 * nkv) * D
    qkv32 = torch.from_numpy(np.fromfile(os.path.join(root, "qkv.f32"), dtype="<f4").reshape(T, row).copy())
    dout32 = torch.from_numpy(np.fromfile(os.path.join(root, "dout.f32"), dtype="<f4").reshape(T, nh * D).copy())
    mask = block_causal_mask(case["cu_seqlens"], T)
    for name in case["dtypes"]:
        dt = DTYPES[name]
        qkv = qkv32.to(dt).requires_grad_(True)
        out, lse = attention(qkv, mask, nh, nkv, D, case["scale"])
        out.backward(dout32.to(dt))
        for key, t in (("out", out), ("dqkv", qkv.grad), ("lse", lse)):
            t.detach().float().numpy().astype("<f4").tofile(os.path.join(root, f"{key}.{name}.f32"))


if __name__ == "__main__":
    main()
