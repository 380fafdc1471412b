#!/usr/bin/python3
"""Python baseline for bench:data: read a TeleChat2 jsonl, parse every line, and encode the
same texts our builder encodes (system + "\\n", each question and answer, the "\\n" glue) with
Python sentencepiece, one call per text, on one thread, the way a typical preprocessing
script does. Prints {"seconds", "tokens", "texts"} as JSON.

Usage: /usr/bin/python3 scripts/reference/encode_baseline.py TOKENIZER.model FILE.jsonl
"""
import json
import sys
import time

import sentencepiece as spm

sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
t0 = time.perf_counter()
tokens = 0
texts = 0
with open(sys.argv[2], encoding="utf-8") as f:
    for line in f:
        obj = json.loads(line)
        segs = []
        if obj.get("system"):
            segs.append(obj["system"] + "\n")
        dialog = obj["dialog"]
        for i, turn in enumerate(dialog):
            segs.append(turn["content"])
            if turn["role"] == "bot" and i != len(dialog) - 1:
                segs.append("\n")
        for s in segs:
            tokens += len(sp.encode(s))
        texts += len(segs)
        # Special ids: one per marker (user, bot, end per turn; system when present).
        tokens += 3 * (len(dialog) // 2) + (1 if obj.get("system") else 0)
print(json.dumps({"seconds": time.perf_counter() - t0, "tokens": tokens, "texts": texts}))
