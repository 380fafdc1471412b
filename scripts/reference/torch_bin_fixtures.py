#!/usr/bin/python3
"""PyTorch `.bin` fixtures for the safe .bin reader tests, written by Debian's torch.save.

  torch_bin_fixtures.py views --dir D
      D/views-{fp32,fp16,bf16}-{zip,legacy}.bin: an nn.Module state_dict (OrderedDict with _metadata) plus awkward views: a
      transposed (non-contiguous) matrix, a slice with a storage offset, a strided column, a
      tensor sharing storage with another (tied), a 0-d scalar, an empty tensor, int64 and bool.
      D/views-*.safetensors: the same tensors made contiguous, written by safetensors_io
      (independent of the reader under test). D/views-fp32-zip64.bin: views-fp32-zip.bin's
      entries rewritten by Python's zipfile with every size and offset in zip64 records (the
      form multi-GB checkpoints need), to test that path on a small file. D/expanded.bin: a
      stride-0 (expanded) view, 3000 elements over a storage of 3.
  torch_bin_fixtures.py to-bin --model DIR --out DIR2 --shards N [--legacy] [--head same|differ]
      DIR2 = DIR's config.json + its safetensors weights re-saved as TeleChat v1-style shards
      pytorch_model_0000K-of-0000N.bin with pytorch_model.bin.index.json (N = 1: pytorch_model.bin).
      --head same adds lm_head.weight as the embedding tensor itself (what torch.save of a tied
      model's state dict stores); --head differ adds a different one.
  torch_bin_fixtures.py adapter-to-bin --adapter DIR --out DIR2
      DIR2 = the PEFT adapter DIR as PEFT before 0.7 saved it: the same adapter_config.json and
      its adapter_model.safetensors tensors in adapter_model.bin (torch.save, zip format).
  torch_bin_fixtures.py evil --dir D
      D/evil-{system,eval,stack}.bin: checkpoints whose pickle runs code on torch.load, creating
      D/pwned-<kind> via os.system, via builtins.eval, or via a protocol-4 STACK_GLOBAL
      reference to os.system.
  torch_bin_fixtures.py load --file F.bin [--file ...]
      Plain torch.load (executes the pickle!): proves an evil fixture's payload is live.
"""
import argparse
import collections
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import load_file, save_file  # noqa: E402

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def save(obj, path, legacy, protocol=2):
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy, pickle_protocol=protocol)


def cmd_views(a):
    for dtype in DTYPES:
        for legacy in (False, True):
            stem = os.path.join(a.dir, f"views-{dtype}-{'legacy' if legacy else 'zip'}")
            write_views(DTYPES[dtype], legacy, stem + ".bin", stem + ".safetensors")
    rezip64(os.path.join(a.dir, "views-fp32-zip.bin"), os.path.join(a.dir, "views-fp32-zip64.bin"))
    save({"e": torch.ones(3).expand(1000, 3)}, os.path.join(a.dir, "expanded.bin"), False)


def write_views(dt, legacy, out, expect):
    g = torch.Generator().manual_seed(3)
    mod = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.LayerNorm(3)).to(dt)
    sd = mod.state_dict()  # OrderedDict carrying _metadata (pickled with BUILD)
    base = torch.randn(6, 7, generator=g).to(dt)
    sd["transposed"] = base.t()                       # stride (1, 7)
    sd["sliced"] = base[2:5]                          # storage offset 14, contiguous
    sd["column"] = base[1:, 3]                        # offset 10, stride (7,)
    sd["tied_a"] = base
    sd["tied_b"] = base                               # same storage as tied_a
    sd["scalar"] = torch.tensor(2.5).to(dt)
    sd["empty"] = torch.zeros(0, 4, dtype=dt)
    sd["steps"] = torch.arange(-3, 5, dtype=torch.int64)
    sd["mask"] = torch.tensor([True, False, True])
    save(sd, out, legacy)
    save_file({k: v.contiguous() for k, v in sd.items() if k != "mask"}, expect)


def cmd_to_bin(a):
    tensors = load_file(os.path.join(a.model, "model.safetensors"))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.model, "config.json")) as f, open(os.path.join(a.out, "config.json"), "w") as g:
        g.write(f.read())
    if a.head is not None:
        embed = next(n for n in tensors if n.endswith("word_embeddings.weight") or n.endswith("wte.weight"))
        tensors["lm_head.weight"] = tensors[embed] if a.head == "same" else tensors[embed] + 1
    names = list(tensors)
    if a.shards == 1:
        save(collections.OrderedDict((n, tensors[n]) for n in names), os.path.join(a.out, "pytorch_model.bin"), a.legacy)
        return
    per = -(-len(names) // a.shards)
    weight_map = {}
    for k in range(a.shards):
        file = f"pytorch_model_{k + 1:05d}-of-{a.shards:05d}.bin"
        part = {n: tensors[n] for n in names[k * per:(k + 1) * per]}
        save(part, os.path.join(a.out, file), a.legacy)
        weight_map.update({n: file for n in part})
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    with open(os.path.join(a.out, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def cmd_adapter_to_bin(a):
    # a PEFT adapter dir as PEFT before 0.7 wrote it (save_pretrained(safe_serialization=False)):
    # the same adapter_config.json, the tensors in adapter_model.bin via torch.save
    tensors = load_file(os.path.join(a.adapter, "adapter_model.safetensors"))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.adapter, "adapter_config.json")) as f, open(os.path.join(a.out, "adapter_config.json"), "w") as g:
        g.write(f.read())
    save(collections.OrderedDict((n, tensors[n]) for n in tensors), os.path.join(a.out, "adapter_model.bin"), False)


class SystemPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class EvalPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w').close()",))


def cmd_evil(a):
    for kind in ("system", "eval", "stack"):
        marker = os.path.join(a.dir, f"pwned-{kind}")
        payload = EvalPayload(marker) if kind == "eval" else SystemPayload(marker)
        obj = {"weight": torch.ones(2, 2), "x": payload}
        save(obj, os.path.join(a.dir, f"evil-{kind}.bin"), False, protocol=4 if kind == "stack" else 2)


def rezip64(src_path, out):
    import zipfile
    zipfile.ZIP64_LIMIT = 0  # every entry and the end record then take their zip64 forms
    with zipfile.ZipFile(src_path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    # zipfile fills the classic end record with the real (small) values; saturate them as a
    # writer does past 4 GiB, so readers must take the counts and offsets from the zip64 record
    with open(out, "r+b") as f:
        f.seek(-22, 2)
        end = bytearray(f.read(22))
        assert end[:4] == b"PK\x05\x06"
        end[8:20] = b"\xff" * 12
        f.seek(-22, 2)
        f.write(end)
    with zipfile.ZipFile(out) as check:  # Python's own reader still reads it
        assert check.testzip() is None


def cmd_load(a):
    for f in a.file:
        torch.load(f)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("views")
    p.add_argument("--dir", required=True)
    p = sub.add_parser("to-bin")
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--shards", type=int, required=True)
    p.add_argument("--legacy", action="store_true")
    p.add_argument("--head", choices=["same", "differ"])
    p = sub.add_parser("adapter-to-bin")
    p.add_argument("--adapter", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("evil")
    p.add_argument("--dir", required=True)
    p = sub.add_parser("load")
    p.add_argument("--file", action="append", required=True)
    a = ap.parse_args()
    {"views": cmd_views, "to-bin": cmd_to_bin, "adapter-to-bin": cmd_adapter_to_bin, "evil": cmd_evil, "load": cmd_load}[a.cmd](a)


if __name__ == "__main__":
    main()
