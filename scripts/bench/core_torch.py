"""PyTorch eager counterpart of `npm run bench:core` and `npm run bench:train`: the same
TeleChat2-shaped model (scripts/reference/telechat_model.py layers), the harness's batch (the
config JSON's "shape": {"batch", "seqLen"}, BENCH_SHAPE in src/bench/core_config.ts), every
token labelled, on N threads (torch.set_num_threads), fp32, eager autograd (no torch.compile, no
TorchScript). Attention is written out as torch 1.13 users write it: the full [B, heads, T, T]
score matrix, masked_fill and softmax (1.13 has no scaled_dot_product_attention). Prints one
JSON line like src/bench/core_worker.ts, with torch.__version__, the thread count in effect and
the batch it ran.

Usage: /usr/bin/python3 scripts/bench/core_torch.py CONFIG_JSON ITERS THREADS [--train [--lora R]] [--bf16-autocast]

Without --train one iteration is forward + backward (bench:core). With --train it is the full
training step of bench:train (src/bench/train.ts), the same as src/bench/train_worker.ts does
through our ZeroEngine: forward, backward, global-norm clipping to TRAIN_HYPER["clip"], and
torch.optim.AdamW with weight decay on matrices and embeddings only (norms and biases excluded,
as telechat-train does by default). bench:train times the whole process from outside (long run
minus short run), so the in-process step_s printed here is informational there.
With --lora R (bench:train's LoRA rows) the base is frozen (requires_grad False) and every block
projection gets PEFT-style adapters, y = x W^T + (x A^T * alpha / r) B^T with alpha = 2 R, A
kaiming-uniform and B zero; autograd then skips the frozen weights' gradients and AdamW
(weight decay on A and B, as telechat-train) updates only the adapters.

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

from torch_build import torch_build

# Must match TRAIN_HYPER in src/bench/core_config.ts (passed in the config JSON as "train").
DEFAULT_TRAIN_HYPER = {"lr": 1e-4, "betas": [0.9, 0.95], "eps": 1e-8, "weight_decay": 0.1, "clip": 1.0}


def main():
    cfg = json.loads(sys.argv[1])
    iters = int(sys.argv[2])
    threads = int(sys.argv[3])
    train = "--train" in sys.argv[4:]
    lora_r = int(sys.argv[sys.argv.index("--lora") + 1]) if "--lora" in sys.argv else 0
    autocast = "--bf16-autocast" in sys.argv[4:]
    known = {"--train", "--bf16-autocast", "--lora"}
    unknown = [a for i, a in enumerate(sys.argv[4:], 4) if a not in known and sys.argv[i - 1] != "--lora"]
    if unknown:
        sys.exit(f"core_torch.py: unknown option {unknown[0]} (expected --train, --lora R, --bf16-autocast)")
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    H, L, nh, Fd, V = cfg["hidden_size"], cfg["n_layer"], cfg["n_head"], cfg["ffn_hidden_size"], cfg["vocab_size"]
    hd = H // nh
    if "shape" not in cfg:
        sys.exit('core_torch.py: the config JSON has no "shape" ({"batch": B, "seqLen": T}); the harness passes its '
                 "BENCH_SHAPE so that both sides run the same tokens")
    B, T = int(cfg["shape"]["batch"]), int(cfg["shape"]["seqLen"])

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

    lora = {}
    if lora_r:
        for p in params.values():
            p.requires_grad_(False)
        for i in range(L):
            for name in ("q", "kv", "o", "g", "u", "d"):
                out_f, in_f = params[f"{i}.{name}"].shape
                a = torch.empty(lora_r, in_f)
                torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))
                lora[f"{i}.{name}.A"] = a.requires_grad_(True)
                lora[f"{i}.{name}.B"] = torch.zeros(out_f, lora_r, requires_grad=True)
    scale = 2.0

    def lin(h, i, name):
        y = h @ params[f"{i}.{name}"].t()
        if lora_r:
            y = y + ((h @ lora[f"{i}.{name}.A"].t()) * scale) @ lora[f"{i}.{name}.B"].t()
        return y

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
            q = lin(h, i, "q").view(B, T, nh, hd).transpose(1, 2)
            kv = lin(h, i, "kv").view(B, T, nh, 2 * hd).transpose(1, 2)
            k, v = kv[..., :hd], kv[..., hd:]
            s = (rope(q) @ rope(k).transpose(-1, -2)) / math.sqrt(hd)
            p = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
            ctx = (p @ v).transpose(1, 2).reshape(B, T, H)
            x = x + lin(ctx, i, "o") + params[f"{i}.ob"]
            h = rms(x, params[f"{i}.ln2"])
            x = x + lin(F.silu(lin(h, i, "g")) * lin(h, i, "u"), i, "d") + params[f"{i}.db"]
        logits = rms(x, params["lnf"]) @ params["lm"].t()
        return F.cross_entropy(logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1))

    ids = torch.tensor([[(r * 7919 + i * 104729) % V for i in range(T)] for r in range(B)])
    optimizer = None
    if train:
        hp = {**DEFAULT_TRAIN_HYPER, **cfg.get("train", {})}
        trained = list(lora.values()) if lora_r else list(params.values())
        decay = [p for p in trained if p.dim() >= 2]
        no_decay = [p for p in trained if p.dim() < 2]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": hp["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
            lr=hp["lr"], betas=tuple(hp["betas"]), eps=hp["eps"])

    def iteration():
        step(ids)
        if optimizer is not None:
            torch.nn.utils.clip_grad_norm_(trained, hp["clip"])
            optimizer.step()

    iteration()  # warm-up
    times = []
    for _ in range(iters):
        for p in list(params.values()) + list(lora.values()):
            p.grad = None
        t0 = time.perf_counter()
        iteration()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2] if times else None  # ITERS 0: only the warm-up step ran
    print(json.dumps({
        "side": "pytorch-eager-bf16-autocast" if autocast else "pytorch-eager",
        "mode": ("lora-train" if lora_r else "train") if train else "forward-backward",
        "iters": iters,
        "threads": torch.get_num_threads(),
        "batch": B,
        "seq_len": T,
        "torch": torch.__version__,
        "build": torch_build(),
        "dtype": "bfloat16 autocast (fp32 parameters)" if autocast else "float32",
        "attention": "full T x T scores (matmul, masked_fill, softmax)",
        "step_s": median,
        "tokens_per_s": B * T / median if median else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpu_s": resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_stime,
    }))


if __name__ == "__main__":
    main()
