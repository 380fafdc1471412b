#!/usr/bin/python3
"""Independent reference for the chat templates, used by the data tests.

It works the way inference stacks do: render the conversation as ONE string (TeleChat2's
chat template, TeleChat v1's chat() prompt, or the 52B's text markers), then tokenize it by
splitting on the special-marker strings (marker -> its id, the text between two markers ->
sentencepiece.encode on its own). Loss positions are found independently: every token of a
text that follows a <_bot> marker up to the next marker, plus the <_end> marker itself.

stdin: {"model": path, "ids": {marker: id}, "template": name, "loss_on": "all"|"last",
        "generation_prompt": bool, and either "system": str|null, "turns": [[q, a], ...]
        or "conversations": [{"system": str|null, "turns": [[q, a], ...]}, ...]}
stdout: {"ids": [...], "labels": [...]} or, for "conversations", a list of those.
"""
import json
import re
import sys

import sentencepiece as spm


def render_52b(sp, system, turns, gen, loss_on):
    # Markers are text. The training rule (documented in src/data/templates.ts) encodes the
    # prompt part "<_user>q<_bot>" and the answer part "a<_end>" as separate segments.
    ids, labels = [], []

    def add(text, loss):
        t = sp.encode(text)
        ids.extend(t)
        labels.extend(t if loss else [-100] * len(t))

    if system:
        add("<_system>" + system + "\n", False)
    for i, (q, a) in enumerate(turns):
        last = i == len(turns) - 1
        add("<_user>" + q + "<_bot>", False)
        if gen and last:
            break
        add(a + "<_end>", loss_on == "all" or last)
    return {"ids": ids, "labels": labels}


def render(sp, ids_of, template, system, turns, gen, loss_on):
    if template == "telechat-52b":
        return render_52b(sp, system, turns, gen, loss_on)
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
