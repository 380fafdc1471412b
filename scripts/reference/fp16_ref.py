#!/usr/bin/python3
"""torch's own fp16 conversions, the reference for test/native/fp16.test.ts.

Usage: /usr/bin/python3 scripts/reference/fp16_ref.py DIR
  DIR/x.f32         raw little-endian fp32 values
Writes
  DIR/bits.u16      x.half() as raw fp16 bit patterns (torch's fp32 -> fp16 rounding)
  DIR/widened.f32   every fp16 bit pattern 0 .. 65535 widened by torch to fp32
"""
import os
import sys

import numpy as np
import torch


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: fp16_ref.py DIR")
    root = sys.argv[1]
    x = torch.from_numpy(np.fromfile(os.path.join(root, "x.f32"), dtype="<f4").copy())
    x.half().view(torch.int16).numpy().astype("<i2").tofile(os.path.join(root, "bits.u16"))
    every = torch.from_numpy(np.arange(65536, dtype=np.uint16).view(np.int16).copy()).view(torch.float16)
    every.float().numpy().astype("<f4").tofile(os.path.join(root, "widened.f32"))


if __name__ == "__main__":
    main()
