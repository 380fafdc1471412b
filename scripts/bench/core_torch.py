"""PyTorch eager counterpart of `npm run bench:core` and `npm run bench:train`: the same
TeleChat2-shaped model (scripts/reference/telechat_model.py layers), batch 4 x 1024, every
token labelled, on N threads. Prints one JSON line like src/bench/core_worker.ts.

Usage: /usr/bin/python3 scripts/bench/core_torch.py CONFIG_JSON ITERS THREADS [--train] [--bf16-autocast]

Without --train one iteration is forward + backward (bench:core). With --train it is the full
training step of bench:train (src/bench/train.ts), the same as src/bench/train_worker.ts does
through our ZeroEngine: forward, backward, global-norm clipping to TRAIN_HYPER["clip"], and
torch.optim.AdamW with weight decay on matrices and embeddings only (norms and biases excluded,
as telechat-train does by default). bench:train times the whole process from outside (long run
minus short run), so the in-process step_s printed here is informational there.

--bf16-autocast runs the forward and the loss under torch.autocast("cpu", dtype=torch.bfloat16)
(fp32 parameters, bf16 matmuls on oneDNN, backward outside the context): how a PyTorch user runs
bf16 on a CPU, bench:train's PyTorch bf16 side.
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F

# Must match TRAIN_HYPER in src/bench/core_config.ts (passed in the config JSON as "train").
DEFAULT_TRAIN_HYPER = {"lr": 1e-4, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1, "clip": 1.0}


def main():
    cfg = json.loads(sys.argv[1])
    iters = int(sys.argv[2])
    threads = int(sys.argv[3])
    train = "--train" in sys.argv[4:]
    autocast = "--bf16-autocast" in sys.argv[4:]
    unknown = [a for a in sys.argv[4:] if a not in ("--train", "--bf16-autocast")]
    if unknown:
        sys.exit(f"core_torch.py: unknown option {unknown[0]} (expected --train, --bf16-autocast)")
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    H, L, nh, Fd, V = cfg["hidden_size"], cfg["n_layer"], cfg["n_head"], cfg["ffn_hidden_size"], cfg["vocab_size"]
    hd = H // nh
    B, T = 4, 1024

    def w(*shape):
        return (torch.randn(*shape) * 0.02).requires_grad_(True)

    params = {"emb": w(V, H), "lm": w(V, H), "lnf": torch.ones(H, requires_grad=True)}
    for i in range(L):
        params[f"{i}.ln1"] = torch.ones(H, requires_grad=True)
        params[f"{i}.q"] = w(H, H)
        params[f"{i}.kv"] = w(2 * H, H)
        params[f"{i}.o"] = w(H, H)
        params[f"{i}.ob"] = torch.zeros(H, requires_grad=True)
        params[f"{i}.ln2"] = torch.ones(H, requires_grad=True)
        params[f"{i}.g"] = w(Fd, H)
        params[f"{i}.u"] = w(Fd, H)
        params[f"{i}.d"] = w(H, Fd)
        params[f"{i}.db"] = torch.zeros(H, requires_grad=True)

    inv_freq = 1.0 / (10000 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    freqs = torch.arange(T, dtype=torch.float32)[:, None] * inv_freq[None]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.ones(T, T, dtype=torch.bool).tril()

    def rms(x, wt):
        return wt * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5))

    def rope(x):  # [B, nh, T, hd]
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos + torch.cat((-x2, x1), dim=-1) * sin

    def step(ids):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = forward(ids)
        loss.backward()

    def forward(ids):
        x = params["emb"][ids]
        for i in range(L):
            h = rms(x, params[f"{i}.ln1"])
            q = (h @ params[f"{i}.q"].t()).view(B, T, nh, hd).transpose(1, 2)
            kv = (h @ params[f"{i}.kv"].t()).view(B, T, nh, 2 * hd).transpose(1, 2)
            k, v = kv[..., :hd], kv[..., hd:]
            s = (rope(q) @ rope(k).transpose(-1, -2)) / math.sqrt(hd)
            p = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
            ctx = (p @ v).transpose(1, 2).reshape(B, T, H)
            x = x + ctx @ params[f"{i}.o"].t() + params[f"{i}.ob"]
            h = rms(x, params[f"{i}.ln2"])
            x = x + (F.silu(h @ params[f"{i}.g"].t()) * (h @ params[f"{i}.u"].t())) @ params[f"{i}.d"].t() + params[f"{i}.db"]
        logits = rms(x, params["lnf"]) @ params["lm"].t()
        return F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))

    ids = torch.tensor([[(r * 7919 + i * 104729) % V for i in range(T)] for r in range(B)])
    optimizer = None
    if train:
        hp = {**DEFAULT_TRAIN_HYPER, **cfg.get("train", {})}
        decay = [p for p in params.values() if p.dim() >= 2]
        no_decay = [p for p in params.values() if p.dim() < 2]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": hp["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
            lr=hp["lr"], betas=tuple(hp["betas"]), eps=hp["eps"])

    def iteration():
        step(ids)
        if optimizer is not None:
            torch.nn.utils.clip_grad_norm_(list(params.values()), hp["clip"])
            optimizer.step()

    iteration()  # warm-up
    times = []
    for _ in range(iters):
        for p in params.values():
            p.grad = None
        t0 = time.perf_counter()
        iteration()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2] if times else None  # ITERS 0: only the warm-up step ran
    print(json.dumps({
        "side": "pytorch-eager-bf16-autocast" if autocast else "pytorch-eager",
        "mode": "train" if train else "forward-backward",
        "iters": iters,
        "threads": threads,
        "torch": torch.__version__,
        "step_s": median,
        "tokens_per_s": B * T / median if median else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpu_s": resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_stime,
    }))


if __name__ == "__main__":
    main()
