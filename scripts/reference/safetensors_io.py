"""Minimal safetensors reader/writer for the PyTorch references (no `safetensors` package).

File layout: 8-byte little-endian header length N, N bytes of JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}?},
then the raw little-endian tensor bytes; offsets are relative to the end of the header.
"""
import json
import struct

import torch

DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
}
NAMES = {v: k for k, v in DTYPES.items()}
# Same-width integer views used to move raw bytes (numpy has no bfloat16).
BITS_VIEW = {
    torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16,
    torch.bfloat16: torch.int16, torch.int64: torch.int64, torch.int32: torch.int32,
}


class SafetensorsError(Exception):
    pass


def save_file(tensors, path, metadata=None):
    """Write {name: tensor} to `path`; tensors keep their dtype."""
    header, chunks, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        if t.dtype not in NAMES:
            raise SafetensorsError(f"{path}: tensor {name!r} has unsupported dtype {t.dtype}")
        raw = t.detach().contiguous().cpu().view(BITS_VIEW[t.dtype]).numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # pad so the data starts 8-byte aligned, as the format recommends
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


def load_file(path):
    """Read every tensor of `path` into {name: tensor} (CPU, stored dtype)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise SafetensorsError(f"{path}: too short for a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise SafetensorsError(f"{path}: header length {n} runs past the end of the file")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: bad JSON header: {e}") from None
    body = memoryview(data)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise SafetensorsError(f"{path}: tensor {name!r} has unsupported dtype {info.get('dtype')!r}")
        shape = [int(s) for s in info["shape"]]
        begin, end = info["data_offsets"]
        numel = 1
        for s in shape:
            numel *= s
        if end - begin != numel * torch.empty(0, dtype=dtype).element_size() or end > len(body):
            raise SafetensorsError(f"{path}: tensor {name!r} offsets {begin}..{end} do not match shape {shape}")
        raw = bytearray(body[begin:end])  # copy: frombuffer needs a writable buffer we own
        bits = torch.frombuffer(raw, dtype=BITS_VIEW[dtype]) if raw else torch.empty(0, dtype=BITS_VIEW[dtype])
        out[name] = bits.view(dtype).reshape(shape).clone()
    return out
