#!/usr/bin/env python3
"""A transcription of google-research/bert tokenization.py (BasicTokenizer + WordpieceTokenizer,
do_lower_case=True) used to produce the expected ids in tests/data/wordpiece_test.cpp.
Usage: python3 bench/peers/bert_tokenization_ref.py VOCAB.txt 'text' ..."""
import sys, unicodedata

def is_ws(c): return c in " \t\n\r" or unicodedata.category(c) == "Zs"
def is_ctrl(c): return c not in "\t\n\r" and unicodedata.category(c) in ("Cc", "Cf")
def is_punc(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126: return True
    return unicodedata.category(c).startswith("P")
def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or
            0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or
            0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)

def basic(text, lower=True):
    out = []
    for c in text:
        cp = ord(c)
        if cp == 0 or cp == 0xFFFD or is_ctrl(c): continue
        out.append(" " if is_ws(c) else c)
    text = "".join(" %s " % c if is_cjk(ord(c)) else c for c in out)
    toks = []
    for t in text.strip().split():
        if lower:
            t = t.lower()
            t = "".join(c for c in unicodedata.normalize("NFD", t) if unicodedata.category(c) != "Mn")
        cur = []
        for c in t:
            if is_punc(c):
                if cur: toks.append("".join(cur)); cur = []
                toks.append(c)
            else:
                cur.append(c)
        if cur: toks.append("".join(cur))
    return " ".join(toks).strip().split()

def wordpiece(tok, vocab):
    if len(tok) > 100: return ["[UNK]"]
    out, start = [], 0
    while start < len(tok):
        end, cur = len(tok), None
        while start < end:
            s = tok[start:end]
            if start > 0: s = "##" + s
            if s in vocab: cur = s; break
            end -= 1
        if cur is None: return ["[UNK]"]
        out.append(cur); start = end
    return out

if __name__ == "__main__":
    vocab = {}
    for i, l in enumerate(open(sys.argv[1], encoding="utf-8")):
        vocab.setdefault(l.strip(), i)
    for text in sys.argv[2:]:
        ids = [vocab[p] for t in basic(text) for p in wordpiece(t, vocab)]
        print(repr(text), ids)
