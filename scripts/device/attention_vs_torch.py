#!/usr/bin/env python3
"""Our FlashAttention-2 kernels vs PyTorch on the GPU, in one process and CUDA context.

Loads libtelechat_cuda.so (native/src/cuda built as a shared library by check_cuda.sh) with
ctypes and calls tc_attention_forward/backward on PyTorch tensors. Modes:
  --mode sweep     correctness: error vs an fp32 reference must be <= 2x (forward) / 3x (dQ, dK,
                   dV) PyTorch's own low-precision error (the FlashAttention repo's rule), over
                   head dims 32/64/96/128, ragged varlen (113/203, 1023/1024, ...), causal and not,
                   MHA and GQA, bf16 and fp16; lse vs fp32 logsumexp.
  --mode sanitize  small cases only, no reference (run under compute-sanitizer).
  --mode bench     TFLOP/s forward and forward+backward, hdim 128 causal bf16, seq 1k..16k, vs
                   torch SDPA (flash backend), plus a kernel-time profile of ours.
Each result is one JSON line appended to --out as soon as it is known.
"""
import argparse
import ctypes
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

DT_CODE = {torch.bfloat16: 1, torch.float16: 2}
HEAD_DIMS = (32, 64, 96, 128)  # every head dim attention.cu instantiates (32: the tiny model)
H100_BF16_DENSE_TFLOPS = 989.0


def load_lib(path):
    lib = ctypes.CDLL(path)
    p, i64, f32, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float, ctypes.c_int
    lib.tc_attention_forward.argtypes = [p, p, p, p, i64, i64, i64, i64, i64, i64, f32, i32, i32]
    lib.tc_attention_backward.argtypes = [p, p, p, p, p, p, i64, i64, i64, i64, i64, i64, f32, i32, i32]
    lib.tc_attention_forward.restype = lib.tc_attention_backward.restype = i32
    lib.tc_error_string.argtypes = [i32]
    lib.tc_error_string.restype = ctypes.c_char_p
    lib.tc_synchronize.restype = i32
    return lib


def check(lib, code, what):
    if code != 0:
        raise RuntimeError(f"{what}: CUDA error {code} ({lib.tc_error_string(code).decode()})")


class Ours:
    def __init__(self, lib):
        self.lib = lib

    def forward(self, qkv, cu, max_len, nh, nkv, D, scale, causal):
        T = qkv.shape[0]
        out = torch.empty(T, nh * D, dtype=qkv.dtype, device=qkv.device)
        lse = torch.empty(nh, T, dtype=torch.float32, device=qkv.device)
        check(self.lib, self.lib.tc_attention_forward(out.data_ptr(), lse.data_ptr(), qkv.data_ptr(), cu.data_ptr(),
                                                      cu.numel() - 1, max_len, T, nh, nkv, D, scale, int(causal),
                                                      DT_CODE[qkv.dtype]), "attention_forward")
        return out, lse

    def backward(self, dout, out, lse, qkv, cu, max_len, nh, nkv, D, scale, causal):
        T = qkv.shape[0]
        dqkv = torch.empty_like(qkv)
        check(self.lib, self.lib.tc_attention_backward(dqkv.data_ptr(), dout.data_ptr(), out.data_ptr(), lse.data_ptr(),
                                                       qkv.data_ptr(), cu.data_ptr(), cu.numel() - 1, max_len, T, nh, nkv,
                                                       D, scale, int(causal), DT_CODE[qkv.dtype]), "attention_backward")
        return dqkv


def split_qkv(qkv, nh, nkv, D):
    T = qkv.shape[0]
    q = qkv[:, : nh * D].reshape(T, nh, D)
    k = qkv[:, nh * D : (nh + nkv) * D].reshape(T, nkv, D)
    v = qkv[:, (nh + nkv) * D :].reshape(T, nkv, D)
    return q, k, v


def reference(qkv, dout, lens, nh, nkv, D, scale, causal, dtype):
    """Per-document attention with autograd in `dtype`: returns out [T, nh*D], lse [nh, T], dqkv."""
    x = qkv.detach().to(dtype).requires_grad_(True)
    q, k, v = split_qkv(x, nh, nkv, D)
    group = nh // nkv
    outs, lses, start = [], [], 0
    for L in lens:
        qd = q[start : start + L].transpose(0, 1)  # [nh, L, D]
        kd = k[start : start + L].transpose(0, 1).repeat_interleave(group, dim=0)
        vd = v[start : start + L].transpose(0, 1).repeat_interleave(group, dim=0)
        s = (qd @ kd.transpose(1, 2)) * scale
        if causal:
            s = s.masked_fill(torch.ones(L, L, dtype=torch.bool, device=s.device).triu(1), float("-inf"))
        lses.append(torch.logsumexp(s.float(), dim=-1))
        outs.append((torch.softmax(s, dim=-1) @ vd).transpose(0, 1).reshape(L, nh * D))
        start += L
    out = torch.cat(outs)
    out.backward(dout.to(dtype))
    return out.detach().float(), torch.cat(lses, dim=1).detach(), x.grad.float()


def parts(t, nh, nkv, D):
    q, k, v = split_qkv(t, nh, nkv, D)
    return {"dq": q, "dk": k, "dv": v}


def sweep_cases(small):
    if small:
        for D in HEAD_DIMS:
            for causal in (True, False):
                yield dict(D=D, lens=[113, 203], nh=4, nkv=2, causal=causal, dtype=torch.bfloat16)
        return
    for dtype in (torch.bfloat16, torch.float16):
        for D in HEAD_DIMS:
            for lens in ([113, 203], [1023, 1024], [1, 64, 65, 300]):
                for causal in (True, False):
                    for nh, nkv in ((4, 4), (8, 2)):
                        if dtype == torch.float16 and (nh, nkv) == (4, 4):
                            continue  # fp16 on the GQA half of the sweep only: same kernels, other dtype
                        yield dict(D=D, lens=lens, nh=nh, nkv=nkv, causal=causal, dtype=dtype)


def run_case(ours, c, out_file, with_reference):
    torch.manual_seed(1000 + c["D"] + sum(c["lens"]) + 7 * c["nh"] + int(c["causal"]))
    D, nh, nkv, lens, causal, dtype = c["D"], c["nh"], c["nkv"], c["lens"], c["causal"], c["dtype"]
    T, scale = sum(lens), 1.0 / math.sqrt(D)
    qkv = torch.randn(T, (nh + 2 * nkv) * D, device="cuda").to(dtype)
    dout = torch.randn(T, nh * D, device="cuda").to(dtype)
    cu = torch.tensor([0] + list(torch.tensor(lens).cumsum(0).tolist()), dtype=torch.int32, device="cuda")
    out, lse = ours.forward(qkv, cu, max(lens), nh, nkv, D, scale, causal)
    dqkv = ours.backward(dout, out, lse, qkv, cu, max(lens), nh, nkv, D, scale, causal)
    torch.cuda.synchronize()
    rec = {"case": {**c, "dtype": str(dtype).replace("torch.", "")}}
    finite = bool(torch.isfinite(out).all() and torch.isfinite(dqkv).all() and torch.isfinite(lse).all())
    rec["finite"] = finite
    ok = finite
    if with_reference:
        out32, lse32, d32 = reference(qkv, dout, lens, nh, nkv, D, scale, causal, torch.float32)
        outlp, _, dlp = reference(qkv, dout, lens, nh, nkv, D, scale, causal, dtype)
        err = lambda a, b: float((a.float() - b).abs().max())
        rec["out"] = {"ours": err(out, out32), "torch_lp": err(outlp, out32)}
        ok &= rec["out"]["ours"] <= 2 * rec["out"]["torch_lp"] + 1e-5
        rec["lse"] = {"ours": err(lse, lse32)}
        ok &= rec["lse"]["ours"] <= 1e-3  # both fp32 from the same inputs: only summation order differs
        ours_p, ref_p, lp_p = parts(dqkv, nh, nkv, D), parts(d32, nh, nkv, D), parts(dlp, nh, nkv, D)
        for name in ("dq", "dk", "dv"):
            rec[name] = {"ours": err(ours_p[name], ref_p[name]), "torch_lp": err(lp_p[name], ref_p[name])}
            ok &= rec[name]["ours"] <= 3 * rec[name]["torch_lp"] + 1e-5
    rec["pass"] = bool(ok)
    out_file.write(json.dumps(rec) + "\n")
    out_file.flush()
    return ok


def timed(fn, iters):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters / 1e3  # seconds


def bench(ours, out_file, seqs, tokens, nh, D):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    for s in seqs:
        b = max(1, tokens // s)
        T, scale = b * s, 1.0 / math.sqrt(D)
        qkv = torch.randn(T, 3 * nh * D, device="cuda", dtype=torch.bfloat16)
        dout = torch.randn(T, nh * D, device="cuda", dtype=torch.bfloat16)
        cu = torch.arange(0, T + 1, s, dtype=torch.int32, device="cuda")
        fwd_flops = 4 * b * s * s * nh * D / 2  # causal: half the score matrix
        rec = {"seq": s, "batch": b, "heads": nh, "head_dim": D}
        state = {}

        def ours_fwd():
            state["out"], state["lse"] = ours.forward(qkv, cu, s, nh, nh, D, scale, True)

        def ours_fwd_bwd():
            out, lse = ours.forward(qkv, cu, s, nh, nh, D, scale, True)
            ours.backward(dout, out, lse, qkv, cu, s, nh, nh, D, scale, True)

        q, k, v = (t.reshape(b, s, nh, D).transpose(1, 2).contiguous().requires_grad_(True) for t in split_qkv(qkv, nh, nh, D))
        do4 = dout.reshape(b, s, nh, D).transpose(1, 2).contiguous()
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
            def sdpa_fwd():
                with torch.no_grad():
                    F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)

            def sdpa_fwd_bwd():
                o = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
                o.backward(do4)

            t_of, t_ofb = timed(ours_fwd, 10), timed(ours_fwd_bwd, 5)
            t_sf, t_sfb = timed(sdpa_fwd, 10), timed(sdpa_fwd_bwd, 5)
        tf = lambda flops, t: flops / t / 1e12
        rec["fwd_tflops"] = {"ours": tf(fwd_flops, t_of), "sdpa_flash": tf(fwd_flops, t_sf)}
        rec["fwd_bwd_tflops"] = {"ours": tf(3.5 * fwd_flops, t_ofb), "sdpa_flash": tf(3.5 * fwd_flops, t_sfb)}
        rec["fwd_ratio"] = t_sf / t_of
        rec["fwd_bwd_ratio"] = t_sfb / t_ofb
        rec["fwd_bwd_fraction_of_989"] = rec["fwd_bwd_tflops"]["ours"] / H100_BF16_DENSE_TFLOPS
        # Where our time goes: CUDA kernel totals from the profiler (CUPTI sees our launches too).
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            ours_fwd_bwd()
            torch.cuda.synchronize()
        prof_ms = {}
        for e in prof.key_averages():
            name = e.key
            for kernel in ("fa2_forward_kernel", "fa2_delta_kernel", "fa2_dq_kernel", "fa2_dkdv_kernel"):
                if kernel in name:
                    t_us = getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0)
                    prof_ms[kernel] = prof_ms.get(kernel, 0.0) + t_us / 1e3
        rec["profile_ms"] = prof_ms
        out_file.write(json.dumps(rec) + "\n")
        out_file.flush()
        del qkv, dout, q, k, v, do4, state
        torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--mode", choices=["sweep", "sanitize", "bench"], required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seqs", default="1024,2048,4096,8192,16384")
    ap.add_argument("--tokens", type=int, default=16384)
    args = ap.parse_args()
    ours = Ours(load_lib(args.lib))
    # The fp32 reference must be true fp32 (no TF32), whatever this PyTorch's default is.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    print(f"device: {torch.cuda.get_device_name()} torch {torch.__version__} cuda {torch.version.cuda}", flush=True)
    t0 = time.time()
    with open(args.out, "a") as out_file:
        if args.mode == "bench":
            bench(ours, out_file, [int(s) for s in args.seqs.split(",")], args.tokens, nh=16, D=128)
            return 0
        cases = list(sweep_cases(small=args.mode == "sanitize"))
        failed = 0
        for c in cases:
            try:
                ok = run_case(ours, c, out_file, with_reference=args.mode == "sweep")
            except Exception as e:  # one broken case must not hide the others
                out_file.write(json.dumps({"case": {**c, "dtype": str(c["dtype"])}, "error": str(e), "pass": False}) + "\n")
                out_file.flush()
                ok = False
            failed += 0 if ok else 1
        print(f"{args.mode}: {len(cases) - failed}/{len(cases)} cases pass in {time.time() - t0:.1f}s", flush=True)
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
