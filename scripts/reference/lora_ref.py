#!/usr/bin/python3
"""PyTorch reference LoRA training: autograd on A and B over a frozen TeleChat base.

Independent of the TypeScript code: the adapted projections are written out here, PEFT style
(peft tuners/lora/layer.py Linear.forward): y = base(x) + lora_B(lora_A(dropout(x))) * alpha / r,
with the adapter tensors under PEFT's names and shapes (A [r, in], B [out, r], B rows in the HF
module's own row order: key_value stays interleaved per kv head; 52B Conv1D modules take x @ W
for the base and the same A/B as nn.Linear adapters, PEFT's fan_in_fan_out).

  lora_ref.py --model DIR --adapter IN.safetensors --r R --alpha A --targets PATH,...
              --steps STEPS.json --out OUT.json --final FINAL.safetensors
              [--lr LR --betas B1,B2 --eps E --weight-decay W] [--dtype fp32|bf16|fp64]
              [--lora-dropout P --dropout-seed S]
  STEPS = {"steps": [{"rows": [{"input_ids", "labels", "doc_lens", "global_row"}, ...]}, ...]}:
  each step's global batch; loss = sum of token CE / label tokens of the step; then one
  torch.optim.AdamW step (constant lr). OUT: {"loss": [...]} per step; FINAL: the adapters after
  the last step (fp32, PEFT names). PATH: the module's path in the HF model object
  (transformer.h.N.MODULE in every layout, also the 7B whose checkpoint names lack "transformer.").
  --dtype fp64 computes everything, master adapters and AdamW included, in float64: the
  trajectory that fp32 implementations approximate, each with its own rounding (FINAL still
  stores fp32: half an ulp, far below what the tests compare).
Dropout masks: dropout_mask.py's hash with branch code 16 + the module's index in its block
(v1: query, key_value, dense, gate_proj, up_proj, down_proj; 52B: c_attn, attn.c_proj, c_fc,
mlp.c_proj), keyed by (seed, optimizer step, layer, global row, position).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dropout_mask import _absorb_int, _mix_int, GOLDEN, MASK64, kept  # noqa: E402
from safetensors_io import load_file, save_file  # noqa: E402
from telechat_model import ModelConfig, apply_rope, attention, mm, predicted_pairs, rms_norm, rope_cos_sin, row_structure  # noqa: E402
from telechat_ref import load_checkpoint, read_batch, read_json  # noqa: E402

V1_MODULES = ["self_attention.query", "self_attention.key_value", "self_attention.dense", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
B52_MODULES = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"]


def lora_key(seed, step, layer, index):
    k = _mix_int((seed + GOLDEN) & MASK64)
    for v in (step, layer, 16 + index):
        k = _absorb_int(k, v)
    return k


class Lora:
    def __init__(self, cfg, adapters, r, alpha, dropout, seed):
        self.cfg, self.ad, self.scale, self.p, self.seed = cfg, adapters, alpha / r, dropout, seed
        self.step, self.row = 1, None

    def lin(self, h, base_out, layer, module):
        """base_out + scale * B(A(drop(h))) for an adapted module, base_out otherwise."""
        # PEFT's name: the module's path in the model object, under `transformer` in every layout
        # (also the 7B, whose checkpoint names drop that prefix)
        path = f"transformer.h.{layer}.{module}"
        if path + ".lora_A" not in self.ad:
            return base_out
        x = h
        if self.p > 0:
            modules = V1_MODULES if self.cfg.layout == "v1" else B52_MODULES
            T = h.shape[0]
            rows = np.full(T, self.row["global_row"], dtype=np.int64)
            mask = kept(lora_key(self.seed, self.step, layer, modules.index(module)), rows, np.arange(T), h.shape[-1], self.p)
            x = h * (torch.from_numpy(mask).to(h.dtype) * (1.0 / (1.0 - self.p)))
        A, B = self.ad[path + ".lora_A"], self.ad[path + ".lora_B"]
        return base_out + mm(mm(x, A.t()) * self.scale, B.t())


def layer_v1(cfg, p, lo, i, x, cos, sin, allowed):
    b = f"{cfg.prefix}h.{i}."
    T, nh, nkv, hd = x.shape[0], cfg.n_head, cfg.n_kv, cfg.head_dim
    h = rms_norm(x, p[b + "input_layernorm.weight"], cfg.eps)
    q = lo.lin(h, mm(h, p[b + "self_attention.query.weight"].t()), i, "self_attention.query").view(T, nh, hd)
    kv = lo.lin(h, mm(h, p[b + "self_attention.key_value.weight"].t()), i, "self_attention.key_value").view(T, nkv, 2 * hd)
    k, v = kv[..., :hd], kv[..., hd:]
    ctx = attention(cfg, apply_rope(q, cos, sin), apply_rope(k, cos, sin), v, allowed)
    o = lo.lin(ctx, mm(ctx, p[b + "self_attention.dense.weight"].t()), i, "self_attention.dense")
    x = x + o + p[b + "self_attention.dense.bias"]
    h = rms_norm(x, p[b + "post_attention_layernorm.weight"], cfg.eps)
    gate = lo.lin(h, mm(h, p[b + "mlp.gate_proj.weight"].t()), i, "mlp.gate_proj")
    up = lo.lin(h, mm(h, p[b + "mlp.up_proj.weight"].t()), i, "mlp.up_proj")
    act = F.silu(gate) * up
    return x + lo.lin(act, mm(act, p[b + "mlp.down_proj.weight"].t()), i, "mlp.down_proj") + p[b + "mlp.down_proj.bias"]


def layer_52b(cfg, p, lo, i, x, cos, sin, allowed):
    b = f"{cfg.prefix}h.{i}."
    T, nh, hd, H = x.shape[0], cfg.n_head, cfg.head_dim, cfg.hidden
    h = rms_norm(x, p[b + "ln_1.weight"], cfg.eps)
    qkv = lo.lin(h, mm(h, p[b + "attn.c_attn.weight"]), i, "attn.c_attn")
    q, k, v = (t.reshape(T, nh, hd) for t in qkv.split(H, dim=-1))
    ctx = attention(cfg, apply_rope(q, cos, sin), apply_rope(k, cos, sin), v, allowed)
    x = x + lo.lin(ctx, mm(ctx, p[b + "attn.c_proj.weight"]), i, "attn.c_proj")
    h = rms_norm(x, p[b + "ln_2.weight"], cfg.eps)
    gate, up = lo.lin(h, mm(h, p[b + "mlp.c_fc.weight"]), i, "mlp.c_fc").chunk(2, dim=-1)
    act = F.silu(gate) * up
    return x + lo.lin(act, mm(act, p[b + "mlp.c_proj.weight"]), i, "mlp.c_proj")


def forward_row(cfg, p, lo, row, rope_len, dtype):
    positions, allowed = row_structure(row["doc_lens"])
    cos, sin = rope_cos_sin(cfg, rope_len, positions, dtype)
    emb = p[cfg.embedding_name()]
    x = emb[torch.tensor(row["input_ids"], dtype=torch.long)]
    if cfg.use_mup:
        x = x * cfg.input_mult
    layer = layer_v1 if cfg.layout == "v1" else layer_52b
    for i in range(cfg.n_layer):
        x = layer(cfg, p, lo, i, x, cos, sin, allowed)
    x = rms_norm(x, p[cfg.prefix + "ln_f.weight"], cfg.eps)
    logits = mm(x, (emb if cfg.tied else p["lm_head.weight"]).t())
    return logits * cfg.logit_mult if cfg.use_mup else logits


def main():
    ap = argparse.ArgumentParser(prog="lora_ref.py")
    for k in ("--model", "--adapter", "--targets", "--steps", "--out", "--final"):
        ap.add_argument(k, required=True)
    ap.add_argument("--r", type=int, required=True)
    ap.add_argument("--alpha", type=float, required=True)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--betas", default="0.9,0.999")
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--dtype", choices=["fp32", "bf16", "fp64"], default="fp32")
    ap.add_argument("--lora-dropout", type=float, default=0.0)
    ap.add_argument("--dropout-seed", type=int, default=0)
    ap.add_argument("--max-seq-len", type=int, required=True)
    args = ap.parse_args()
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp64": torch.float64}[args.dtype]
    master_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    cfg = ModelConfig(read_json(os.path.join(args.model, "config.json")))
    base = {n: t.to(dtype) for n, t in load_checkpoint(cfg, args.model).items()}
    raw = load_file(args.adapter)
    # fp32 master adapters (the optimizer's; fp64 for the fp64 run), cast to the compute dtype for each forward
    master = {}
    for path in args.targets.split(","):
        for part in ("lora_A", "lora_B"):
            master[f"{path}.{part}"] = raw[f"base_model.model.{path}.{part}.weight"].to(master_dtype).clone().requires_grad_(True)
    betas = tuple(float(b) for b in args.betas.split(","))
    opt = torch.optim.AdamW(list(master.values()), lr=args.lr, betas=betas, eps=args.eps, weight_decay=args.weight_decay, foreach=False)
    steps = read_json(args.steps)["steps"]
    losses = []
    for s, step in enumerate(steps):
        rows = step["rows"]
        for r in rows:
            r.setdefault("global_row", 0)
        pairs = [predicted_pairs(r["labels"], r["doc_lens"]) for r in rows]
        count = sum(int(src.numel()) for src, _ in pairs)
        opt.zero_grad()
        loss_sum = 0.0
        for row, (src, tgt) in zip(rows, pairs):
            ad = {k: v.to(dtype) for k, v in master.items()}
            lo = Lora(cfg, ad, args.r, args.alpha, args.lora_dropout, args.dropout_seed)
            lo.step, lo.row = s + 1, row
            logits = forward_row(cfg, base, lo, row, args.max_seq_len, dtype)
            if src.numel() == 0:
                continue
            ce = F.cross_entropy(logits[src].to(master_dtype), tgt, reduction="none")
            loss_sum += float(ce.detach().to(torch.float64).sum())
            (ce.sum() / count).backward()
        losses.append(loss_sum / count)
        opt.step()
    with open(args.out, "w") as f:
        json.dump({"loss": losses}, f)
    out = {}
    for k, v in master.items():
        path, part = k.rsplit(".", 1)
        out[f"base_model.model.{path}.{part}.weight"] = v.detach().to(torch.float32)
    save_file(out, args.final, {"format": "pt"})


if __name__ == "__main__":
    main()
