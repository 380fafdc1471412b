"""The residual-dropout masks of native/src/dropout_hash.h and src/model/dropout.ts, regenerated
independently in numpy (64-bit wrap-around arithmetic on uint64 arrays).

stream key K = absorb(absorb(absorb(mix(seed + G), step), layer), branch)   branch 0 attention, 1 MLP
token key    = absorb(absorb(K, global row), position in row)
kept[c]      = (mix(token key + (c + 1) * G) >> 40) >= round(p * 2^24)
where mix is splitmix64's output function and absorb(k, v) = mix((k ^ v) + G).
"""
import math

import numpy as np

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
BRANCHES = {"attention": 0, "mlp": 1}


def _mix_int(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def _absorb_int(k, v):
    return _mix_int(((k ^ v) + GOLDEN) & MASK64)


def stream_key(seed, step, layer, branch):
    k = _mix_int((seed + GOLDEN) & MASK64)
    for v in (step, layer, BRANCHES[branch]):
        k = _absorb_int(k, v)
    return k


def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _absorb(k, v):
    return _mix((k ^ v) + np.uint64(GOLDEN))


def threshold(p):
    return int(math.floor(p * 2 ** 24 + 0.5))  # JavaScript's Math.round for p >= 0


def kept(key, rows, positions, channels, p):
    """bool [T, channels] for tokens at (rows[t], positions[t]) of stream `key`."""
    with np.errstate(over="ignore"):
        k = np.full(len(rows), key, dtype=np.uint64)
        tk = _absorb(_absorb(k, np.asarray(rows, dtype=np.uint64)), np.asarray(positions, dtype=np.uint64))
        c = np.arange(1, channels + 1, dtype=np.uint64) * np.uint64(GOLDEN)
        bits = _mix(tk[:, None] + c[None, :])
    return (bits >> np.uint64(40)) >= np.uint64(threshold(p))
