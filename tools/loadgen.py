#!/usr/bin/env python3
"""Load generator for an OpenAI-compatible server (ggrt's //tools:server, llama-server, vLLM).

N concurrent clients each send streaming chat requests with a prompt of about --prompt-tokens tokens and
--max-tokens generated tokens (no stop), one after another, until --requests have been sent or --duration
seconds have passed. Reports requests/s, aggregate output tokens/s, time to first token and inter-token
latency (p50/p99), and failed requests. Python standard library only; bounded in requests and time. The
clients run in several processes (--processes), since one interpreter's threads take turns at reading.

  tools/loadgen.py --url http://127.0.0.1:8080 --clients 64 --prompt-tokens 128 --max-tokens 128 --requests 256
"""
import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
import urllib.parse


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * (len(values) - 1)))))
    return values[k]


def one_request(url, prompt, max_tokens, timeout, api_key=None):
    """Streams one chat completion; returns (ttft, [inter-token gaps], tokens) or raises."""
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    body = json.dumps({"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                       "temperature": 0, "stream": True})
    start = time.perf_counter()
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = "Bearer " + api_key
    conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError("HTTP %d: %s" % (resp.status, resp.read()[:200]))
    ttft, last, gaps, tokens, done = None, None, [], 0, False
    buffer = b""
    while not done:
        data = resp.read1(65536) if hasattr(resp, "read1") else resp.read(1)
        if not data:
            break
        buffer += data
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            if not event.startswith(b"data: "):
                continue
            payload = event[6:]
            if payload == b"[DONE]":
                done = True
                break
            chunk = json.loads(payload)
            if "error" in chunk:
                raise RuntimeError(chunk["error"]["message"])
            delta = chunk["choices"][0].get("delta", {})
            if "content" in delta:
                now = time.perf_counter()
                if ttft is None:
                    ttft = now - start
                else:
                    gaps.append(now - last)
                last = now
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    conn.close()
    if not done:
        raise RuntimeError("the stream ended without [DONE]")
    return ttft if ttft is not None else time.perf_counter() - start, gaps, tokens


def run_clients(args, clients, counter, deadline, results):
    """Runs `clients` client threads in this process; puts (ttfts, gaps, tokens, failures) on `results`."""
    words = "once upon a time there was a little robot who liked to count the stars at night".split()
    lock = threading.Lock()
    ttfts, gaps, tokens, failures = [], [], [0], []
    span = [float("inf"), 0.0]  # The first request's start and the last one's end (wall clock).

    def client():
        while True:
            with counter.get_lock():
                if counter.value >= args.requests or time.time() >= deadline:
                    return
                n = counter.value
                counter.value += 1
            prompt = " ".join(words[(n + i) % len(words)] for i in range(max(1, args.prompt_tokens - 8)))
            start = time.time()
            try:
                t, g, k = one_request(args.url, prompt, args.max_tokens, args.timeout, args.api_key)
                with lock:
                    ttfts.append(t)
                    gaps.extend(g)
                    tokens[0] += k
            except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                with lock:
                    failures.append(str(e))
            with lock:
                span[0] = min(span[0], start)
                span[1] = max(span[1], time.time())

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put((ttfts, gaps, tokens[0], failures, span))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--prompt-tokens", type=int, default=128, help="approximate: one word per token")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--requests", type=int, default=64, help="total requests (upper bound)")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds (upper bound)")
    parser.add_argument("--timeout", type=float, default=60.0, help="per request, seconds")
    parser.add_argument("--processes", type=int, default=0,
                        help="client processes (0: one per 4 clients, at most half the cores); threads of one "
                             "process share its interpreter lock, which delays their reads under load")
    parser.add_argument("--api-key", default=os.environ.get("GGRT_API_KEY"),
                        help="the server's --api-key (default: $GGRT_API_KEY)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.clients < 1 or args.requests < 1 or args.processes < 0:
        parser.error("--clients and --requests must be at least 1, --processes at least 0")

    processes = args.processes or max(1, min((args.clients + 3) // 4, (os.cpu_count() or 2) // 2))
    processes = min(processes, args.clients)
    counter = multiprocessing.Value("l", 0)
    results = multiprocessing.Queue()
    deadline = time.time() + args.duration
    workers = [multiprocessing.Process(target=run_clients,
                                       args=(args, args.clients // processes + (i < args.clients % processes),
                                             counter, deadline, results))
               for i in range(processes)]
    for w in workers:
        w.start()
    ttfts, gaps, tokens, failures = [], [], 0, []
    first, last = float("inf"), 0.0
    for _ in workers:  # Before join: a worker exits only once its results are read.
        t, g, k, f, (s, e) = results.get(timeout=args.duration + args.timeout + 30)
        ttfts += t
        gaps += g
        tokens += k
        failures += f
        first, last = min(first, s), max(last, e)
    for w in workers:
        w.join()
    # From the first request sent to the last one answered: the processes' start-up is not the server's time.
    elapsed = max(last - first, 1e-9)
    done = len(ttfts)
    report = {
        "clients": args.clients, "processes": processes, "prompt_tokens": args.prompt_tokens,
        "max_tokens": args.max_tokens,
        "requests": done, "failed": len(failures), "seconds": round(elapsed, 3),
        "requests_per_s": round(done / elapsed, 3), "output_tokens_per_s": round(tokens / elapsed, 1),
        "ttft_ms_p50": round(1e3 * percentile(ttfts, 50), 2), "ttft_ms_p99": round(1e3 * percentile(ttfts, 99), 2),
        "itl_ms_p50": round(1e3 * percentile(gaps, 50), 3), "itl_ms_p99": round(1e3 * percentile(gaps, 99), 3),
        "itl_ms_mean": round(1e3 * statistics.mean(gaps), 3) if gaps else float("nan"),
    }
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print("%-20s %s" % (key, value))
        for f in failures[:5]:
            print("failure:", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
