#!/usr/bin/python3
"""Independent reference: how a Hugging Face slow tokenizer (TeleChat's TelechatTokenizer, a
PreTrainedTokenizer over a SentencePiece model) turns a string into ids, written from
transformers' documented behaviour (transformers >= 4.34, tokenization_utils.py and
tokenization_utils_base.py; read, not copied):

1. Registered tokens. `tokenizer_config.json`'s `added_tokens_decoder` ({id: {content, lstrip,
   rstrip, single_word, ...}}), or, when it has none, the legacy files (`special_tokens_map.json`
   overriding the config's keys; `added_tokens.json` {content: id}, plain tokens at those ids). Then every special-token attribute (bos/eos/unk/sep/pad/cls/
   mask_token, additional_special_tokens; a string or an {"content": ...} AddedToken) not yet
   registered is added with the id of its piece in the vocabulary (strings: no strip flags).
2. tokenize(): the text is cut at every occurrence of a registered token's content (leftmost
   match first; the longest token when several start there); empty pieces are dropped. For each
   token piece in order: rstrip -> the next piece loses its leading whitespace, lstrip -> the
   previous piece its trailing whitespace; single_word -> when the previous piece exists and does
   not end in " ", the token is glued onto it as text, else when the next piece exists and does
   not start with " ", it is glued onto that one. Token pieces become their ids; every other
   non-empty piece is `sp.encode(piece)` ON ITS OWN (so SentencePiece's dummy prefix applies to
   each piece). Pieces are compared by value, as transformers does.

Registered tokens whose content is no piece of the vocabulary are left out (transformers would
append them as new ids past the model's vocabulary; docs/data.md says so).

3. decode() (skip_special_tokens off; TeleChat2's Telechat2Tokenizer.convert_tokens_to_string):
   runs of ordinary ids are `sp.decode(run)` each, a registered token's id is its content.

stdin: {"model": path to tokenizer.model, "dir": tokenizer dir (its JSON files), "texts": [...],
        "decode": [[ids], ...] (optional; "own" decodes the ids of "texts")}
stdout: {"ids": [[...], ...], "decoded": [...], "tokens": [[content, id, lstrip, rstrip, single_word], ...]}
"""
import json
import os
import sys

import sentencepiece as spm

SPECIAL_ATTRS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]


def _load(path):
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _as_token(value):
    """(content, lstrip, rstrip, single_word) of a str or an AddedToken dict, else None."""
    if isinstance(value, str):
        return (value, False, False, False)
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return (value["content"], bool(value.get("lstrip")), bool(value.get("rstrip")), bool(value.get("single_word")))
    return None


def registered_tokens(sp, tok_dir):
    config = _load(os.path.join(tok_dir, "tokenizer_config.json"))
    tokens = {}  # content -> (id, lstrip, rstrip, single_word)
    decoder = config.get("added_tokens_decoder")
    if isinstance(decoder, dict):
        for idx, value in decoder.items():
            t = _as_token(value)
            if t is not None:
                tokens[t[0]] = (int(idx),) + t[1:]
    else:
        config = dict(config, **_load(os.path.join(tok_dir, "special_tokens_map.json")))
        # legacy added_tokens.json {content: id}: plain AddedTokens at the ids it gives
        for content, idx in _load(os.path.join(tok_dir, "added_tokens.json")).items():
            if content != "":
                tokens[content] = (int(idx), False, False, False)
    specials = [config.get(a) for a in SPECIAL_ATTRS] + list(config.get("additional_special_tokens") or [])
    for value in specials:
        t = _as_token(value)
        if t is None or t[0] in tokens or t[0] == "":
            continue
        pid = sp.piece_to_id(t[0])
        if sp.id_to_piece(pid) != t[0]:
            continue  # not a piece: transformers would append a new id past the vocabulary
        tokens[t[0]] = (pid,) + t[1:]
    return tokens


def cut(text, contents):
    """Cuts text at registered contents: scan left to right, longest content at the first hit."""
    by_first = {}
    for c in contents:
        by_first.setdefault(c[0], []).append(c)
    for lst in by_first.values():
        lst.sort(key=len, reverse=True)
    pieces, start, i = [], 0, 0
    while i < len(text):
        hit = next((c for c in by_first.get(text[i], []) if text.startswith(c, i)), None)
        if hit is None:
            i += 1
            continue
        if i > start:
            pieces.append(text[start:i])
        pieces.append(hit)
        i += len(hit)
        start = i
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def encode(sp, tokens, text):
    pieces = cut(text, list(tokens))
    for i in range(len(pieces)):
        p = pieces[i]
        if p not in tokens:
            continue
        _, lstrip, rstrip, single_word = tokens[p]
        left = pieces[i - 1] if i > 0 else None
        right = pieces[i + 1] if i + 1 < len(pieces) else None
        if rstrip and right:
            pieces[i + 1] = right.lstrip()
        if lstrip and left:
            pieces[i - 1] = left.rstrip()
        if single_word and left and left[-1] != " ":
            pieces[i - 1] += p
            pieces[i] = ""
        elif single_word and right and right[0] != " ":
            pieces[i + 1] = p + pieces[i + 1]
            pieces[i] = ""
    ids = []
    for p in pieces:
        if not p:
            continue
        if p in tokens:
            ids.append(tokens[p][0])
        else:
            ids.extend(sp.encode(p))
    return ids


def decode(sp, tokens, ids):
    content_of = {v[0]: c for c, v in tokens.items()}
    out, run = "", []
    for i in ids:
        if i in content_of:
            out += sp.decode(run) + content_of[i]
            run = []
        else:
            run.append(i)
    return out + sp.decode(run)


def main():
    req = json.load(sys.stdin)
    sp = spm.SentencePieceProcessor(model_file=req["model"])
    tokens = registered_tokens(sp, req["dir"])
    ids = [encode(sp, tokens, t) for t in req["texts"]]
    to_decode = ids if req.get("decode") == "own" else req.get("decode", [])
    out = {
        "ids": ids,
        "decoded": [decode(sp, tokens, i) for i in to_decode],
        "tokens": sorted([[c, *v] for c, v in tokens.items()], key=lambda r: r[1]),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
