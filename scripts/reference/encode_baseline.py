#!/usr/bin/python3
"""Python baseline for bench:data: read a TeleChat2 jsonl, parse every line, and encode the
same texts our builder encodes (system + "\\n", each question and answer, the "\\n" glue) with
Python sentencepiece. Texts are encoded in batches of the texts of 512 lines (the builder's
batch) with SentencePieceProcessor.encode(list, num_threads=THREADS): sentencepiece's own
thread pool, so both sides get the same number of encoding threads; parsing stays on the one
Python thread. Prints {"seconds", "tokens", "texts", "threads", "cpu_s", "peak_rss_mb",
"sentencepiece"} as JSON.

Usage: /usr/bin/python3 scripts/reference/encode_baseline.py TOKENIZER.model FILE.jsonl THREADS
"""
import json
import resource
import sys
import time

import sentencepiece as spm

LINES_PER_BATCH = 512

if len(sys.argv) != 4:
    sys.exit("usage: encode_baseline.py TOKENIZER.model FILE.jsonl THREADS")
threads = int(sys.argv[3])
if threads < 1:
    sys.exit(f"encode_baseline.py: THREADS must be >= 1, got {threads}")
sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
t0 = time.perf_counter()
tokens = 0
texts = 0


def encode(batch):
    return sum(len(ids) for ids in sp.encode(batch, num_threads=threads)) if batch else 0


batch = []
lines = 0
with open(sys.argv[2], encoding="utf-8") as f:
    for line in f:
        obj = json.loads(line)
        if obj.get("system"):
            batch.append(obj["system"] + "\n")
        dialog = obj["dialog"]
        for i, turn in enumerate(dialog):
            batch.append(turn["content"])
            if turn["role"] == "bot" and i != len(dialog) - 1:
                batch.append("\n")
        # Special ids: one per marker (user, bot, end per turn; system when present).
        tokens += 3 * (len(dialog) // 2) + (1 if obj.get("system") else 0)
        lines += 1
        if lines % LINES_PER_BATCH == 0:
            tokens += encode(batch)
            texts += len(batch)
            batch = []
tokens += encode(batch)
texts += len(batch)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": time.perf_counter() - t0, "tokens": tokens, "texts": texts, "threads": threads,
                  "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
                  "sentencepiece": spm.__version__}))
