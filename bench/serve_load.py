#!/usr/bin/env python3
"""Load on `lmforge serve`: CLIENTS threads send scoring requests (echo, max_tokens 0, logprobs 1:
what lm-evaluation-harness's loglikelihood sends) built from the lines of FILE for SECONDS, and the
script prints one JSON line: requests answered, status counts, requests/s, scored tokens/s, latency
percentiles. Standard library only (any python3).

    python3 bench/serve_load.py --url http://127.0.0.1:PORT --file TEXT --clients 8 --seconds 20
"""
import argparse
import json
import threading
import time
import urllib.error
import urllib.request


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--file", required=True)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--lines-per-request", type=int, default=1)
    ap.add_argument("--max-chars", type=int, default=400)
    a = ap.parse_args()
    lines = [l.rstrip("\n")[: a.max_chars] for l in open(a.file, encoding="utf-8") if l.strip()]
    lock = threading.Lock()
    stats = {"requests": 0, "tokens": 0, "status": {}, "latency": []}
    deadline = time.time() + a.seconds

    def client(k):
        i = k * 997
        while time.time() < deadline:
            prompt = "\n" + "\n".join(lines[(i + j) % len(lines)] for j in range(a.lines_per_request))
            i += a.clients
            body = json.dumps({"prompt": prompt, "max_tokens": 0, "echo": True, "logprobs": 1,
                               "temperature": 0}).encode()
            req = urllib.request.Request(a.url + "/v1/completions", data=body,
                                         headers={"Content-Type": "application/json"})
            t0 = time.time()
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    code, reply = r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                code, reply = e.code, {}
            except Exception as e:  # a lost request: counted, never hidden
                code, reply = "lost: " + type(e).__name__, {}
            dt = time.time() - t0
            with lock:
                stats["requests"] += 1
                stats["status"][str(code)] = stats["status"].get(str(code), 0) + 1
                stats["latency"].append(dt)
                if code == 200:
                    stats["tokens"] += reply["usage"]["prompt_tokens"]

    t_start = time.time()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t_start
    lat = sorted(stats["latency"]) or [0.0]
    print(json.dumps({"clients": a.clients, "seconds": round(wall, 2), "requests": stats["requests"],
                      "status": stats["status"], "requests_per_s": round(stats["requests"] / wall, 2),
                      "scored_tokens_per_s": round(stats["tokens"] / wall, 1),
                      "latency_p50_ms": round(1000 * lat[len(lat) // 2], 1),
                      "latency_p95_ms": round(1000 * lat[int(len(lat) * 0.95)], 1)}))


if __name__ == "__main__":
    main()
