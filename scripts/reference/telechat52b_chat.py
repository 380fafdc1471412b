#!/usr/bin/python3
"""Independent reference for the telechat-52b rows: TeleChat-52B's own prompt string,
tokenized whole by Python sentencepiece, labels found from character offsets.

TeleChat-52B's chat() (modeling_telechat.py in Tele-AI's 52B release) builds ONE string,
    "<_user>" + q1 + "<_bot>" + a1 + "<_end>" + ... + "<_user>" + q + "<_bot>"
and tokenizes it whole (its tokenizer forces SentencePiece's dummy prefix on, adds no BOS).
Its fine-tuning code (deepspeed-finetune/utils/data/data_utils.py) instead tokenizes each
part "<_user>q<_bot>" and "a<_end>" on its own, so every part gets the dummy prefix "▁".
With "spaced": true this script makes that prefix an explicit " " before every part after
the first and still tokenizes the one string whole (SentencePiece starts a piece at every
"▁", so no piece can cross such a part boundary): the row a per-part encoder must produce.

Labels come from sentencepiece's piece offsets, not from any part list: a piece carries loss
iff its characters lie inside an answer span (the answer's leading " " if spaced, the answer,
its "<_end>"). Pieces that cross a span boundary are listed in "straddling" (their label
would be ambiguous).

stdin:  {"model": path, "turns": [[q, a], ...], "spaced": bool, "loss_on": "all"|"last",
         "generation_prompt": bool}
stdout: {"text": str, "ids": [...], "labels": [...], "straddling": [[index, piece], ...]}
"""
import json
import sys

import sentencepiece as spm


def build(turns, spaced, gen):
    """The string and its answer spans [begin, end) in characters."""
    text, spans = "", []
    sep = " " if spaced else ""
    for i, (q, a) in enumerate(turns):
        last = i == len(turns) - 1
        text += (sep if i > 0 else "") + "<_user>" + q + "<_bot>"
        if gen and last:
            break
        begin = len(text)
        text += sep + a + "<_end>"
        spans.append((begin, len(text)))
    return text, spans


def main():
    req = json.load(sys.stdin)
    sp = spm.SentencePieceProcessor(model_file=req["model"])
    turns = req["turns"]
    text, spans = build(turns, req.get("spaced", False), req.get("generation_prompt", False))
    if req.get("loss_on", "all") == "last":
        spans = spans[-1:] if len(spans) == len(turns) else []
    ids, labels, straddling = [], [], []
    for k, p in enumerate(sp.encode(text, out_type="immutable_proto").pieces):
        b, e = p.begin, p.end
        inside = [s for s in spans if s[0] <= b and e <= s[1] and (b < e or b < s[1])]
        crosses = any(s[0] < e and b < s[1] for s in spans) and not inside
        if crosses:
            straddling.append([k, p.piece])
        ids.append(p.id)
        labels.append(p.id if inside else -100)
    print(json.dumps({"text": text, "ids": ids, "labels": labels, "straddling": straddling}, ensure_ascii=False))


if __name__ == "__main__":
    main()
