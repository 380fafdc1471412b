#!/usr/bin/python3
"""Train the small shipped SentencePiece BPE tokenizer on the sample conversations.

Special ids follow TeleChat2: 0 <_unk>, 1 <_start>, 2 <_end>, 3 <_pad>, 4 <_user>, 5 <_bot>,
6 <_system>. The chat markers are CONTROL symbols (SentencePiece alone never produces them
from text); tokenizer_config.json registers them as Hugging Face special tokens
(`additional_special_tokens`), so that transformers' apply_chat_template gives the ids our
builder gives, and both (src/data/added-tokens.ts) turn a marker typed inside a message into its id.
byte_fallback covers any character the vocabulary lacks (emoji, rare CJK); split_digits
makes every digit its own piece; identity normalization and no whitespace squeezing keep
newlines and whitespace runs as written. The dummy prefix is on (SentencePiece's default,
as in TeleChat's 12B tokenizer), which is why the builder encodes each segment on its own.

Usage: /usr/bin/python3 scripts/train_tokenizer.py [--input data/sample-conversations.jsonl]
       [--out data/tokenizer] [--vocab-size 4000]
Writes tokenizer.model, tokenizer.vocab and tokenizer_config.json into --out.
"""
import argparse
import io
import json
import os

import sentencepiece as spm

SPECIALS = ["<_unk>", "<_start>", "<_end>", "<_pad>", "<_user>", "<_bot>", "<_system>"]


def texts(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            obj = json.loads(line)
            if obj.get("system"):
                yield obj["system"]
            for turn in obj["dialog"]:
                yield turn["content"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", default="data/sample-conversations.jsonl")
    ap.add_argument("--out", default="data/tokenizer")
    ap.add_argument("--vocab-size", type=int, default=4000)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    # Sentences must be single lines for the trainer: split multi-line texts.
    sentences = [s for t in texts(args.input) for s in t.split("\n") if s.strip()]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        model_type="bpe",
        vocab_size=args.vocab_size,
        hard_vocab_limit=False,  # a small corpus may not support every merge; take what it has
        character_coverage=0.9995,
        byte_fallback=True,
        split_digits=True,
        max_sentencepiece_length=4,  # the corpus is tiny and repetitive: keep pieces word-sized, not phrase-sized
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        allow_whitespace_only_pieces=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=3,
        unk_piece=SPECIALS[0], bos_piece=SPECIALS[1], eos_piece=SPECIALS[2], pad_piece=SPECIALS[3],
        control_symbols=SPECIALS[4:],
        user_defined_symbols=["\n"],  # keep newline a piece of its own (it is chat-template glue)
        num_threads=1,
        minloglevel=2,
    )
    with open(os.path.join(args.out, "tokenizer.model"), "wb") as f:
        f.write(model.getvalue())

    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    for i, piece in enumerate(SPECIALS):
        assert sp.piece_to_id(piece) == i, (piece, sp.piece_to_id(piece))
    with open(os.path.join(args.out, "tokenizer.vocab"), "w", encoding="utf-8") as f:
        for i in range(sp.get_piece_size()):
            piece = sp.id_to_piece(i).replace("\n", "\\n")  # keep one piece per line
            f.write(f"{piece}\t{sp.get_score(i)}\n")

    config = {
        "tokenizer_class": "TelechatTokenizer",
        "model_max_length": 4096,
        "add_bos_token": False,
        "add_eos_token": False,
        "unk_token": "<_unk>",
        "bos_token": "<_start>",
        "eos_token": "<_end>",
        "pad_token": "<_pad>",
        "additional_special_tokens": ["<_user>", "<_bot>", "<_system>"],
        "user_token": "<_user>",
        "bot_token": "<_bot>",
        "system_token": "<_system>",
        "unk_token_id": 0,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 3,
        "user_token_id": 4,
        "bot_token_id": 5,
        "system_token_id": 6,
        "chat_template": (
            "{%- if messages[0]['role'] == 'system' %}{{ '<_system>' + messages[0]['content'] + '\\n' }}{%- endif %}"
            "{%- for message in messages %}"
            "{%- if message['role'] == 'user' %}{{ '<_user>' + message['content'] }}"
            "{%- elif message['role'] == 'assistant' %}{{ '<_bot>' + message['content'] + '<_end>\\n' }}{%- endif %}"
            "{%- endfor %}"
            "{%- if add_generation_prompt %}{{ '<_bot>' }}{%- endif %}"
        ),
    }
    with open(os.path.join(args.out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print(f"trained {sp.get_piece_size()} pieces from {len(sentences)} sentences into {args.out}")


if __name__ == "__main__":
    main()
