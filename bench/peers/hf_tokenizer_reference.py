#!/usr/bin/env python3
"""Writes the fixtures of tests/data/hf_tokenizer_test.cpp with Hugging Face's `tokenizers` (the
reference implementation): five small tokenizer.json files trained here on a fixed corpus (byte-level
BPE as GPT-2, BPE with Metaspace normalizers and byte fallback as Llama 2, a regex Split + byte-level
BPE with ignore_merges as Llama 3, Unigram with Metaspace, BERT-style WordPiece) and the ids and decoded text the library
gives for a list of test strings; and, when ../shared/data/tokenizers/gpt2 is there, the ids of GPT-2's
own encoder.json + vocab.bpe for the same strings.

Run from the repository root in the peers environment (scripts/setup-peers.sh):
    PEERS/bin/python bench/peers/hf_tokenizer_reference.py [--gpt2 ../shared/data/tokenizers/gpt2]
"""
import argparse
import json
import os

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers, Regex

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "It's 2024: we've seen 1,234,567 tokens, and they'll keep coming!",
    "naïve café résumé — déjà vu",
    "日本語のテキストと中文文本",
    "emoji 🙂 and symbols #@$%^&*() [brackets] {braces}",
    "    indented code: def f(x): return x ** 2",
    "multiple   spaces\tand\ttabs",
    "WikiText @-@ style @,@ numbers 3 @.@ 5",
] * 20

TESTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "  two leading spaces",
    "trailing spaces   ",
    "It's don't we'll THEY'RE",
    "numbers 1234567 and 3.14159",
    "naïve café déjà",
    "日本語のテキスト",
    "emoji 🙂🙃 end",
    "tabs\tand\tmore",
    "special <|endoftext|> inside",
    "unseen zxqj wvkp",
    "",
    "a",
    " ",
]

SPLIT_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
BYTES = ["<0x%02X>" % b for b in range(256)]


def bytelevel_bpe():
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return t


def llama2_bpe():
    t = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    t.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    t.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                   decoders.Strip(" ", 1, 0)])
    t.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=500, special_tokens=["<unk>", "<s>", "</s>"] + BYTES))
    return t


def llama3_bpe():
    t = Tokenizer(models.BPE(ignore_merges=True))
    t.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    t.decoder = decoders.ByteLevel()
    t.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=450, special_tokens=["<|end_of_text|>"],
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return t


def unigram():
    t = Tokenizer(models.Unigram())
    t.pre_tokenizer = pre_tokenizers.Metaspace()
    t.decoder = decoders.Metaspace()
    t.train_from_iterator(CORPUS, trainers.UnigramTrainer(vocab_size=200, special_tokens=["<unk>", "</s>", "<pad>"],
                                                          unk_token="<unk>"))
    return t


def wordpiece():
    t = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    t.normalizer = normalizers.BertNormalizer(lowercase=True)
    t.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    t.decoder = decoders.WordPiece()
    t.train_from_iterator(CORPUS, trainers.WordPieceTrainer(
        vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    return t


def cases(t):
    out = []
    for s in TESTS:
        ids = t.encode(s, add_special_tokens=False).ids
        out.append({"text": s, "ids": ids, "decoded": t.decode(ids, skip_special_tokens=False)})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/golden/hf_tokenizers")
    ap.add_argument("--gpt2", default="../shared/data/tokenizers/gpt2")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    expected = {}
    for name, make in [("bytelevel_bpe", bytelevel_bpe), ("llama2_bpe", llama2_bpe), ("llama3_bpe", llama3_bpe),
                       ("unigram", unigram), ("wordpiece", wordpiece)]:
        t = make()
        t.save(os.path.join(a.out, name + ".json"))
        expected[name] = cases(t)
    enc = os.path.join(a.gpt2, "encoder.json")
    if os.path.exists(enc):
        bpe = models.BPE.from_file(enc, os.path.join(a.gpt2, "vocab.bpe"))
        t = Tokenizer(bpe)
        t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        t.decoder = decoders.ByteLevel()
        t.add_special_tokens(["<|endoftext|>"])
        expected["gpt2"] = cases(t)
    with open(os.path.join(a.out, "expected.json"), "w") as f:
        json.dump(expected, f, ensure_ascii=False, indent=1)
    print("wrote", a.out, {k: len(v) for k, v in expected.items()})


if __name__ == "__main__":
    main()
