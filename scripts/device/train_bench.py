"""GPU training-step benchmark, PyTorch side (check_cuda.sh stage "train_bench"): the same
TeleChat2-shaped model as scripts/device/train_bench.mjs trains with telechat-train, in PyTorch
eager with scaled_dot_product_attention (flash backend), fp32 master weights under bf16
autocast, and fused AdamW - the usual mixed-precision recipe our bf16 + fp32 master matches.
Rows of T tokens (one document each), micro-batch B, every token labelled.

Usage: python3 scripts/device/train_bench.py CONFIG_JSON B T STEPS OUT_JSONL
Prints/appends one JSON line: median step seconds, tokens/s, model TFLOP/s and MFU against
989 TFLOP/s (H100/H200 dense bf16), peak GPU memory.
"""
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

PEAK_BF16 = 989e12


def main():
    cfg = json.load(open(sys.argv[1]))
    B, T, steps, out = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    dev = torch.device("cuda")
    torch.manual_seed(1)
    H, L, nh, nkv, Fd, V = (cfg["hidden_size"], cfg["n_layer"], cfg["n_head"], cfg.get("num_key_value_heads", cfg["n_head"]),
                            cfg["ffn_hidden_size"], cfg["vocab_size"])
    hd = H // nh

    def w(*shape):
        return (torch.randn(*shape, device=dev) * 0.02).requires_grad_(True)

    def ones(n):
        return torch.ones(n, device=dev, requires_grad=True)

    params = {"emb": w(V, H), "lm": w(V, H), "lnf": ones(H)}
    for i in range(L):
        params.update({f"{i}.ln1": ones(H), f"{i}.q": w(H, H), f"{i}.kv": w(2 * nkv * hd, H), f"{i}.o": w(H, H),
                       f"{i}.ob": torch.zeros(H, device=dev, requires_grad=True), f"{i}.ln2": ones(H),
                       f"{i}.g": w(Fd, H), f"{i}.u": w(Fd, H), f"{i}.d": w(H, Fd),
                       f"{i}.db": torch.zeros(H, device=dev, requires_grad=True)})
    n_params = sum(p.numel() for p in params.values())

    inv_freq = 1.0 / (10000 ** (torch.arange(0, hd, 2, dtype=torch.float32, device=dev) / hd))
    freqs = torch.arange(T, dtype=torch.float32, device=dev)[:, None] * inv_freq[None]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()

    def rms(x, wt):
        xf = x.float()
        return wt * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(x.dtype)

    def rope(x):
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return (x * cos + torch.cat((-x2, x1), dim=-1) * sin).to(x.dtype)

    def forward_backward(ids):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            x = params["emb"][ids]
            for i in range(L):
                h = rms(x, params[f"{i}.ln1"])
                q = (h @ params[f"{i}.q"].t()).view(B, T, nh, hd).transpose(1, 2)
                kv = (h @ params[f"{i}.kv"].t()).view(B, T, nkv, 2 * hd).transpose(1, 2)
                k, v = kv[..., :hd], kv[..., hd:]
                ctx = F.scaled_dot_product_attention(rope(q), rope(k), v, is_causal=True, enable_gqa=nkv != nh)
                x = x + ctx.transpose(1, 2).reshape(B, T, H) @ params[f"{i}.o"].t() + params[f"{i}.ob"]
                h = rms(x, params[f"{i}.ln2"])
                x = x + (F.silu(h @ params[f"{i}.g"].t()) * (h @ params[f"{i}.u"].t())) @ params[f"{i}.d"].t() + params[f"{i}.db"]
            logits = rms(x, params["lnf"]) @ params["lm"].t()
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, V).float(), ids[:, 1:].reshape(-1))
        loss.backward()

    decay = [p for p in params.values() if p.dim() >= 2]
    no_decay = [p for p in params.values() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), eps=1e-8, fused=True)
    ids = torch.randint(0, V, (B, T), device=dev)

    def step():
        for p in params.values():
            p.grad = None
        forward_backward(ids)
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        opt.step()

    with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.FLASH_ATTENTION):
        for _ in range(2):
            step()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            step()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    # model flops exactly as src/train/flops.ts counts them for telechat-train's MFU: 6 per
    # matrix parameter per token (LM head included, embedding lookup not), causal attention
    # 2 T^2 H forward and 2.5x that backward per layer and row
    matmul = L * (H * (nh + 2 * nkv) * hd + nh * hd * H + 3 * H * Fd) + V * H
    flops = 6 * matmul * B * T + L * 7 * H * T * T * B
    row = {"side": "pytorch-eager-sdpa", "torch": torch.__version__, "device": torch.cuda.get_device_name(), "params": n_params,
           "B": B, "T": T, "steps": steps, "step_s": median, "tokens_per_s": B * T / median, "tflops": flops / median / 1e12,
           "mfu_989": flops / median / PEAK_BF16, "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30}
    print(json.dumps(row))
    with open(out, "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
