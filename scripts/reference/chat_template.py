#!/usr/bin/python3
"""Independent reference for the chat templates, used by the data tests.

It works the way inference stacks do: render the conversation as ONE string (TeleChat2's
chat template or TeleChat v1's chat() prompt), then tokenize it by splitting on the
special-marker strings (marker -> its id, the text between two markers ->
sentencepiece.encode on its own). Loss positions are found independently: every token of a
text that follows a <_bot> marker up to the next marker, plus the <_end> marker itself.

stdin: {"model": path, "ids": {marker: id}, "template": name, "loss_on": "all"|"last",
        "generation_prompt": bool, and either "system": str|null, "turns": [[q, a], ...]
        or "conversations": [{"system": str|null, "turns": [[q, a], ...]}, ...]}
stdout: {"ids": [...], "labels": [...]} or, for "conversations", a list of those.

The 52B, whose markers are plain text, has its own reference: telechat52b_chat.py.
"""
import json
import re
import sys

import sentencepiece as spm


def render(sp, ids_of, template, system, turns, gen, loss_on):
    if template not in ("telechat", "telechat2"):
        raise SystemExit(f"chat_template.py: no template {template!r} (the 52B: telechat52b_chat.py)")
    s = ""
    if system:
        s += "<_system>" + system + ("\n" if template == "telechat2" else "")
    for i, (q, a) in enumerate(turns):
        last = i == len(turns) - 1
        s += "<_user>" + q + "<_bot>"
        if gen and last:
            break
        s += a + "<_end>"
        if template == "telechat2" and not last:
            s += "\n"
    # Tokenize: split on markers, markers become ids, texts are encoded on their own.
    parts = re.split(r"(<_system>|<_user>|<_bot>|<_end>)", s)
    ids, labels = [], []
    after_bot = False
    n_bot = sum(1 for p in parts if p == "<_bot>")
    bot_seen = 0
    for p in parts:
        if p in ids_of:
            loss = p == "<_end>" and (loss_on == "all" or bot_seen == n_bot)
            ids.append(ids_of[p])
            labels.append(ids_of[p] if loss else -100)
            if p == "<_bot>":
                bot_seen += 1
            after_bot = p == "<_bot>"
        elif p:
            t = sp.encode(p)
            loss = after_bot and (loss_on == "all" or bot_seen == n_bot)
            ids.extend(t)
            labels.extend(t if loss else [-100] * len(t))
    return {"ids": ids, "labels": labels}


def main():
    req = json.load(sys.stdin)
    sp = spm.SentencePieceProcessor(model_file=req["model"])
    gen = req.get("generation_prompt", False)
    loss_on = req.get("loss_on", "all")
    if "conversations" in req:
        out = [render(sp, req["ids"], req["template"], c.get("system"), c["turns"], gen, loss_on)
               for c in req["conversations"]]
    else:
        out = render(sp, req["ids"], req["template"], req.get("system"), req["turns"], gen, loss_on)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
