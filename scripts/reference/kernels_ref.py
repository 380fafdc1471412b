#!/usr/bin/python3
"""PyTorch autograd reference for the CPU kernels (test/native/kernels.test.ts).

Usage: /usr/bin/python3 scripts/reference/kernels_ref.py DIR

DIR/manifest.json lists cases: {"name", "op", "params", "inputs": {name: {"file", "shape",
"dtype": "f32" | "i32"}}}; input files are raw little-endian arrays. For every case this writes
the float64 autograd result of each output ("y", "dx", ...) and, when params["dt"] is "bf16" or
"f16", the same op computed by torch in that dtype the way Hugging Face TeleChat code does it
("lowp:y", ...), whose error the kernel's error is compared against. Outputs are raw
little-endian float64 files listed in DIR/results.json: {case: {output: {"file", "shape"}}}.
The math here is written independently of the C++ kernels, from the PyTorch definitions.

fp16: torch 1.13 has no CPU half kernel for addmm, silu, exp or softmax. Where one is missing,
`half_op` computes torch's fp16 pipeline instead: the op in fp32 on the half inputs, its result
rounded to half, and (through the backward of .float()) each input gradient rounded to half,
which is what a CUDA half kernel with fp32 accumulation does. Ops torch has in half (add, mul,
cat, embedding, casts) run natively.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

F64 = torch.float64
BF16 = torch.bfloat16
F16 = torch.float16
LOWP = {"bf16": BF16, "f16": F16}


def load_inputs(directory, case):
    out = {}
    for name, spec in case["inputs"].items():
        dtype = np.float32 if spec["dtype"] == "f32" else np.int32
        arr = np.fromfile(os.path.join(directory, spec["file"]), dtype=dtype).reshape(spec["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def leaf(t, dtype):
    return t.to(dtype).detach().requires_grad_(True)


def grad_dtype(p):
    return LOWP.get(p.get("gdt"), torch.float32)


def half_op(fn, dt, *args):
    """fn(*args) in dtype dt; in fp16 the fp32-compute, half-storage pipeline (module doc)."""
    if dt != F16:
        return fn(*args)
    return fn(*(a.float() if a is not None else None for a in args)).half()


# Each op returns {output name: tensor} computed with `dt` as the compute/storage dtype:
# float64 for the reference, bfloat16 / float16 for torch's own low-precision result.
def op_cast(i, p, dt):
    return {"y": i["x"].to(dt)}


def op_add(i, p, dt):
    return {"y": i["a"].to(dt) + i["b"].to(dt)}


def op_scale(i, p, dt):
    return {"y": i["x"].to(dt) * p["s"]}


def op_sum_squares(i, p, dt):
    x = i["x"].to(F64)
    return {"y": (x * x).sum().reshape(1)}


def op_embedding(i, p, dt):
    table = leaf(i["table"], dt)
    out = F.embedding(i["ids"].long(), table)
    out.backward(i["dout"].to(dt))
    gdt = F64 if dt == F64 else grad_dtype(p)
    return {"out": out, "dtable": i["dtable0"].to(gdt) + table.grad.to(gdt)}


def op_rmsnorm(i, p, dt):
    x, w = leaf(i["x"], dt), leaf(i["w"], dt)
    # TeleChat / Llama RMSNorm: statistics in fp32 (fp64 here), weight applied in the input dtype.
    xf = x.to(torch.float32) if dt in (BF16, F16) else x
    rstd = torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + p["eps"])
    y = w * (xf * rstd).to(dt)
    y.backward(i["dy"].to(dt))
    gdt = F64 if dt == F64 else grad_dtype(p)
    return {"y": y, "rstd": rstd.reshape(-1), "dx": i["dx0"].to(dt) + x.grad,
            "dw": i["dw0"].to(gdt) + w.grad.to(gdt)}


def op_linear(i, p, dt):
    x, w = leaf(i["x"], dt), leaf(i["w"], dt)
    b = leaf(i["b"], dt) if "b" in i else None
    y = half_op(F.linear, dt, x, w, b)
    y.backward(i["dy"].to(dt))
    gdt = F64 if dt == F64 else grad_dtype(p)
    out = {"y": y, "dw": i["dw0"].to(gdt) + w.grad.to(gdt)}
    out["dx"] = i["dx0"].to(dt) + x.grad if p["accumulate_dx"] else x.grad
    if b is not None:
        out["db"] = i["db0"].to(gdt) + b.grad.to(gdt)
    return out


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def op_rope(i, p, dt):
    x = leaf(i["x"], dt)
    n, d, off = p["n_heads"], p["head_dim"], p["col_offset"]
    T = x.shape[0]
    pos = i["pos"].long()
    # HF NeoX style: emb = cat(freqs, freqs) tables, cast to the activation dtype.
    cos = torch.cat((i["cos"], i["cos"]), dim=-1)[pos].to(dt).unsqueeze(1)
    sin = torch.cat((i["sin"], i["sin"]), dim=-1)[pos].to(dt).unsqueeze(1)
    heads = x[:, off:off + n * d].reshape(T, n, d)
    rotated = (heads * cos + rotate_half(heads) * sin).reshape(T, n * d)
    y = torch.cat((x[:, :off], rotated, x[:, off + n * d:]), dim=1)
    y.backward(i["dy"].to(dt))
    return {"y": y, "dx": x.grad}


def op_swiglu(i, p, dt):
    gu = leaf(i["gu"], dt)
    gate, up = gu.chunk(2, dim=-1)
    h = half_op(F.silu, dt, gate) * up
    h.backward(i["dh"].to(dt))
    return {"h": h, "dgu": gu.grad}


def op_cross_entropy(i, p, dt):
    logits = leaf(i["logits"], dt)
    # HF: logits upcast to fp32 for the loss; the gradient flows back into the 16-bit logits.
    z = (logits.to(torch.float32) if dt in (BF16, F16) else logits) * p["logit_scale"]
    loss = F.cross_entropy(z, i["targets"].long(), ignore_index=-100, reduction="sum")
    (loss * p["grad_scale"]).backward()
    count = (i["targets"] != -100).sum()
    return {"loss_sum": loss.reshape(1), "count": count.reshape(1), "grad": logits.grad}


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: kernels_ref.py DIR")
    directory = sys.argv[1]
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    torch.manual_seed(0)
    results = {}
    for case in manifest["cases"]:
        if case["op"] not in OPS:
            sys.exit(f"{case['name']}: unknown op {case['op']!r}")
        inputs = load_inputs(directory, case)
        lowp = LOWP.get(case["params"].get("dt"))
        variants = [("", F64)] + ([("lowp:", lowp)] if lowp is not None else [])
        entry = {}
        for prefix, dt in variants:
            for name, value in OPS[case["op"]](inputs, case["params"], dt).items():
                key = prefix + name
                file = f"{case['name']}.{key.replace(':', '_')}.out.f64"
                value.detach().to(F64).numpy().astype("<f8").tofile(os.path.join(directory, file))
                entry[key] = {"file": file, "shape": list(value.shape)}
        results[case["name"]] = entry
    with open(os.path.join(directory, "results.json"), "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
