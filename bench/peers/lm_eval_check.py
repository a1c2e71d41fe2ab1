"""lm-evaluation-harness drives `lmforge serve` (issue 21, part 3): its local-completions model scores
WikiText-2 documents through our OpenAI-compatible API with our tokenizer (tokenizer_backend=remote),
and its perplexity must equal what `lmforge eval-lm` computes on the same documents.

Each document is one WikiText-2 validation line shorter than the model's context, so lm-eval's
rolling loglikelihood (the EOT token, then the document, in one window) and eval-lm's stream
([eos] + the line's tokens + eos) are the same tokens scored with the same context. eval-lm runs once
per document (its windows would otherwise cross documents); lm-eval runs once over all of them.
Reported: lm-eval's word perplexity, eval-lm's over the same word count (lm-eval's own rule: words
split on whitespace), the largest per-document difference of the log-likelihood sums.

Usage (peers environment): $PEERS/bin/python bench/peers/lm_eval_check.py --run RUN \
          --data ../shared/data --work /tmp/lmeval-check [--docs 40] [--lmforge build/lmforge]
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a decoder run with a text tokenizer")
    ap.add_argument("--lmforge", default="build/lmforge")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--work", default="/tmp/lmforge-lm-eval-check")
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--port", type=int, default=8791)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)

    server = subprocess.Popen([a.lmforge, "serve", "--checkpoint", a.run, "--port", str(a.port), "--max-batch", "8",
                               "--threads", str(a.threads), "--model-name", "lmf", "--precision", "fp32"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{a.port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/v1/models", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        info = json.loads(urllib.request.urlopen(base + "/tokenizer_info").read())
        ctx = int(info.get("max_model_len", 128))

        def n_tokens(text):
            req = urllib.request.Request(base + "/tokenize", data=json.dumps({"prompt": text}).encode(),
                                         headers={"Content-Type": "application/json"})
            return json.loads(urllib.request.urlopen(req).read())["count"]

        docs = []
        for line in open(os.path.join(a.data, "wikitext-2", "wiki.valid.tokens"), encoding="utf-8"):
            line = line.strip()
            if len(line.split()) >= 20 and not line.startswith("="):
                if n_tokens(line) + 2 <= ctx:
                    docs.append(line)
            if len(docs) == a.docs:
                break
        path = os.path.join(a.work, "docs.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps({"text": d + "\n"}) + "\n")
        tasks = os.path.join(a.work, "tasks")
        os.makedirs(tasks, exist_ok=True)
        with open(os.path.join(tasks, "lmforge_wt2.yaml"), "w") as f:
            f.write(f"""task: lmforge_wt2
dataset_path: json
dataset_kwargs:
  data_files:
    test: {path}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: "{{{{text}}}}"
metric_list:
  - metric: word_perplexity
  - metric: byte_perplexity
  - metric: bits_per_byte
""")
        out = os.path.join(a.work, "lm_eval_out")
        cmd = [os.path.join(os.path.dirname(sys.executable), "lm_eval"), "--model", "local-completions", "--tasks",
               "lmforge_wt2", "--include_path", tasks, "--model_args",
               f"base_url={base}/v1/completions,model=lmf,tokenizer_backend=remote,num_concurrent=4,max_length={ctx}",
               "--output_path", out, "--log_samples"]
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        lm_eval_s = time.time() - t0
        if r.returncode != 0:
            sys.exit(f"lm_eval failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    res = sorted((os.path.join(dp, f) for dp, _, fs in os.walk(out) for f in fs if f.startswith("results")),
                 key=os.path.getmtime)[-1]
    res = json.load(open(res))["results"]["lmforge_wt2"]
    samples = sorted((os.path.join(dp, f) for dp, _, fs in os.walk(out) for f in fs if f.startswith("samples")),
                     key=os.path.getmtime)[-1]
    ll_by_doc, words_by_doc = {}, {}
    for line in open(samples):
        s = json.loads(line)
        r = s["filtered_resps"][0]
        ll_by_doc[s["doc"]["text"]] = float(r[0] if isinstance(r, list) else r)
        words_by_doc[s["doc"]["text"]] = int(s["word_perplexity"][1])  # lm-eval's own word count

    total_nll, words, worst = 0.0, 0, 0.0
    for i, d in enumerate(docs):
        p = os.path.join(a.work, f"doc{i}.txt")
        open(p, "w", encoding="utf-8").write(d + "\n")
        so = subprocess.run([a.lmforge, "eval-lm", "--checkpoint", a.run, "--data", p, "--json", "--context", str(ctx),
                             "--precision", "fp32",
                             "--threads", str(a.threads), "--cache-dir", os.path.join(a.work, "cache")],
                            capture_output=True, text=True, check=True).stdout
        ev = json.loads(so[so.find("{"):])
        total_nll += ev["nll"]
        words += words_by_doc.get(d + "\n", len(re.split(r"\s+", d + "\n")))
        ll = ll_by_doc.get(d + "\n")
        if ll is not None:
            worst = max(worst, abs(-ll - ev["nll"]))
    import math
    import lm_eval
    mine = math.exp(total_nll / words)
    theirs = res.get("word_perplexity,none", res.get("word_perplexity"))
    report = {"lm_eval": lm_eval.__version__, "docs": len(docs), "context": ctx, "lm_eval_seconds": round(lm_eval_s, 1),
              "lm_eval_word_perplexity": theirs, "eval_lm_word_perplexity": mine,
              "rel_diff": abs(mine - theirs) / theirs, "docs_matched": len(ll_by_doc),
              "max_abs_diff_doc_loglikelihood": worst,
              "ok": abs(mine - theirs) / theirs < 1e-4 and worst < 1e-2}
    print(json.dumps(report))
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
