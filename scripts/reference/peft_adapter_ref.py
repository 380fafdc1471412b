#!/usr/bin/python3
"""PEFT LoRA adapter dirs as PEFT writes them, and their merge into the base, without PEFT.

Run with /usr/bin/python3 (torch 1.13). Independent of the TypeScript code: module paths are the
HF model object's (every TeleChat CausalLM holds its decoder as `transformer`, so the 7B, whose
checkpoint names lack that prefix, still gets base_model.model.transformer.h.N...), shapes come
from the base's own tensors, and the merge is PEFT's (tuners/lora/layer.py get_delta_weight):
W + (lora_alpha / r) * B A, transposed for GPT-2 Conv1D weights stored [in, out] (fan_in_fan_out).

  peft_adapter_ref.py write --base DIR --out ADAPTER --targets NAME,... --r R --alpha A
                            [--format bin|safetensors] [--dtype fp32|bf16|fp16] [--seed N]
      ADAPTER/adapter_config.json (every LoraConfig key a PEFT 0.10 file has, keys sorted as
      PEFT's to_json_string writes them) and adapter_model.bin (torch.save, what PEFT before 0.7
      wrote) or adapter_model.safetensors: lora_A [r, in] ~ N(0, 0.1), lora_B [out, r] ~ N(0, 0.1)
      for every block module whose path ends with a NAME (PEFT's list match).
  peft_adapter_ref.py merge --base DIR --adapter ADAPTER --out MERGED.safetensors
      every base tensor, adapted ones merged in float64 then rounded to fp32.
Exit status 1 with one message on bad input.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import load_file, save_file  # noqa: E402


def base_weights(base):
    path = os.path.join(base, "model.safetensors")
    if not os.path.exists(path):
        raise SystemExit(f"{base}: no model.safetensors")
    return load_file(path)


def is_conv1d(base):
    with open(os.path.join(base, "config.json")) as f:
        return "n_embd" in json.load(f)


def block_modules(weights):
    """(module path in the model object, checkpoint tensor name) of every block projection."""
    out = []
    for name, w in weights.items():
        if w.dim() != 2 or not name.endswith(".weight") or ".h." not in f".{name}":
            continue
        stem = name[: -len(".weight")]
        out.append((stem if stem.startswith("transformer.") else f"transformer.{stem}", name))
    return out


def cmd_write(a):
    weights = base_weights(a.base)
    conv1d = is_conv1d(a.base)
    names = a.targets.split(",")
    g = torch.Generator().manual_seed(a.seed)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[a.dtype]
    sd = {}
    for path, name in block_modules(weights):
        if not any(path == n or path.endswith("." + n) for n in names):
            continue
        fan_in, fan_out = weights[name].shape[::-1] if not conv1d else weights[name].shape
        sd[f"base_model.model.{path}.lora_A.weight"] = (torch.randn(a.r, fan_in, generator=g) * 0.1).to(dtype)
        sd[f"base_model.model.{path}.lora_B.weight"] = (torch.randn(fan_out, a.r, generator=g) * 0.1).to(dtype)
    if not sd:
        raise SystemExit(f"{a.base}: no module matches {a.targets}")
    config = {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": os.path.abspath(a.base), "bias": "none",
        "fan_in_fan_out": conv1d, "inference_mode": True, "init_lora_weights": True, "layers_pattern": None,
        "layers_to_transform": None, "loftq_config": {}, "lora_alpha": a.alpha, "lora_dropout": 0.05,
        "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": None, "peft_type": "LORA",
        "r": a.r, "rank_pattern": {}, "revision": None, "target_modules": sorted(set(names), reverse=True),
        "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False,
    }
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    if a.format == "bin":
        torch.save(sd, os.path.join(a.out, "adapter_model.bin"))
    else:
        save_file(sd, os.path.join(a.out, "adapter_model.safetensors"), {"format": "pt"})


def cmd_merge(a):
    weights = base_weights(a.base)
    conv1d = is_conv1d(a.base)
    with open(os.path.join(a.adapter, "adapter_config.json")) as f:
        cfg = json.load(f)
    st = os.path.join(a.adapter, "adapter_model.safetensors")
    sd = load_file(st) if os.path.exists(st) else torch.load(os.path.join(a.adapter, "adapter_model.bin"))
    scale = cfg["lora_alpha"] / cfg["r"]
    merged = {n: w.to(torch.float64) for n, w in weights.items()}
    paths = dict(block_modules(weights))
    for key in sd:
        if not key.endswith(".lora_A.weight"):
            continue
        path = key[len("base_model.model."): -len(".lora_A.weight")]
        delta = scale * (sd[key.replace(".lora_A.", ".lora_B.")].to(torch.float64) @ sd[key].to(torch.float64))
        merged[paths[path]] += delta.t() if conv1d else delta
    save_file({n: w.to(torch.float32) for n, w in merged.items()}, a.out)


def main():
    ap = argparse.ArgumentParser(prog="peft_adapter_ref.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    for k in ("--base", "--out", "--targets"):
        w.add_argument(k, required=True)
    w.add_argument("--r", type=int, required=True)
    w.add_argument("--alpha", type=int, required=True)
    w.add_argument("--format", choices=["bin", "safetensors"], default="safetensors")
    w.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32")
    w.add_argument("--seed", type=int, default=0)
    m = sub.add_parser("merge")
    for k in ("--base", "--adapter", "--out"):
        m.add_argument(k, required=True)
    a = ap.parse_args()
    cmd_write(a) if a.cmd == "write" else cmd_merge(a)


if __name__ == "__main__":
    main()
