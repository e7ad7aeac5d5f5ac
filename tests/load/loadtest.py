#!/usr/bin/env python3
"""Load test for a Strata server (or any OpenAI-compatible one) over OpenAI streaming HTTP or gRPC.

Metrics, per request (vLLM's definitions; t0 = request sent, t_i = arrival of output token i,
i = 1..n, chunks carrying several tokens count each token at the chunk's arrival):
  TTFT = t_1 - t0                       time to first token
  E2E  = t_n - t0                       end-to-end latency
  TPOT = (E2E - TTFT) / (n - 1)         time per output token after the first (n > 1)
  ITL  = t_{i+1} - t_i for every i      inter-token latencies, pooled over all requests
Reported as p50 / p90 / p99 and mean (seconds). Throughput: completed requests / wall time
and output tokens / wall time, wall time from the first request sent to the last finished.

Load shape: --concurrency C keeps C requests in flight; --rate R sends requests as a Poisson
process of R requests/s (unbounded concurrency). Stops after --requests N or --duration S,
whichever comes first. Prompts: --prompts FILE.jsonl ({"prompt": ..., "max_tokens": ...} per
line) or synthetic ones of --prompt-words words (uniform in [min, max]) with --max-tokens
uniform in [min, max]; ignore_eos keeps output lengths exact.

Examples:
  .venv/bin/python tests/load/loadtest.py --url http://127.0.0.1:8080 --concurrency 8 --requests 64
  .venv/bin/python tests/load/loadtest.py --grpc 127.0.0.1:50051 --rate 4 --duration 30 --json out.json
"""
import argparse
import asyncio
import json
import pathlib
import random
import statistics
import sys
import time

WORDS = ("time river light stone garden window music paper winter market island signal forest "
         "engine letter silver harbor morning lantern bridge").split()


def percentiles(values):
    if not values:
        return {"p50": None, "p90": None, "p99": None, "mean": None}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
    return {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "mean": statistics.fmean(ordered)}


class Recorder:
    def __init__(self):
        self.requests = []  # (t0, [token arrival times], error)

    def add(self, t0, arrivals, error=None):
        self.requests.append((t0, arrivals, error))

    def summary(self, wall):
        ok = [(t0, a) for t0, a, e in self.requests if e is None and a]
        ttft = [a[0] - t0 for t0, a in ok]
        e2e = [a[-1] - t0 for t0, a in ok]
        tpot = [(a[-1] - a[0]) / (len(a) - 1) for t0, a in ok if len(a) > 1]
        itl = [later - earlier for _, a in ok for earlier, later in zip(a, a[1:])]
        tokens = sum(len(a) for _, a in ok)
        return {
            "completed": len(ok), "failed": len(self.requests) - len(ok), "wall_seconds": wall,
            "request_throughput": len(ok) / wall if wall else 0.0,
            "output_tokens_per_s": tokens / wall if wall else 0.0,
            "ttft": percentiles(ttft), "tpot": percentiles(tpot), "itl": percentiles(itl), "e2e": percentiles(e2e),
            "errors": sorted({e for _, _, e in self.requests if e})[:10],
        }


def make_workload(args, rng):
    if args.prompts:
        items = [json.loads(line) for line in pathlib.Path(args.prompts).read_text().splitlines() if line.strip()]
        while True:
            for item in items:
                yield item["prompt"], int(item.get("max_tokens", args.max_tokens[1]))
    while True:
        words = rng.randint(*args.prompt_words)
        yield " ".join(rng.choice(WORDS) for _ in range(words)), rng.randint(*args.max_tokens)


async def openai_request(client, args, prompt, max_tokens, recorder):
    import httpx
    body = {"model": args.model, "prompt": prompt, "max_tokens": max_tokens, "stream": True,
            "temperature": 0, "ignore_eos": True}
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    t0, arrivals = time.perf_counter(), []
    try:
        async with client.stream("POST", f"{args.url}/v1/completions", json=body, headers=headers) as response:
            if response.status_code != 200:
                recorder.add(t0, arrivals, f"HTTP {response.status_code}")
                return
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                now = time.perf_counter()
                for choice in chunk.get("choices", []):
                    # Strata sends one token per chunk; count text-bearing chunks as tokens otherwise.
                    count = len(choice.get("token_ids") or []) or (1 if choice.get("text") else 0)
                    arrivals.extend([now] * count)
        recorder.add(t0, arrivals)
    except (httpx.HTTPError, OSError) as e:
        recorder.add(t0, arrivals, type(e).__name__)


async def grpc_request(stub, pb, prompt, max_tokens, recorder):
    import grpc
    request = pb.GenerateRequest(text=prompt, max_tokens=max_tokens, ignore_eos=True,
                                 sampling=pb.SamplingParams(temperature=0.0))
    t0, arrivals = time.perf_counter(), []
    try:
        async for response in stub.Generate(request):
            arrivals.extend([time.perf_counter()] * len(response.token_ids))
        recorder.add(t0, arrivals)
    except grpc.aio.AioRpcError as e:
        recorder.add(t0, arrivals, e.code().name)


async def run(args):
    rng = random.Random(args.seed)
    workload = make_workload(args, rng)
    recorder = Recorder()
    if args.grpc:
        import grpc
        import strata_grpc_stubs
        pb, pb_grpc = strata_grpc_stubs.load()
        channel = grpc.aio.insecure_channel(args.grpc)
        stub = pb_grpc.InferenceStub(channel)
        send = lambda prompt, n: grpc_request(stub, pb, prompt, n, recorder)
    else:
        import httpx
        client = httpx.AsyncClient(timeout=httpx.Timeout(args.timeout), limits=httpx.Limits(max_connections=None))
        send = lambda prompt, n: openai_request(client, args, prompt, n, recorder)

    start = time.perf_counter()
    deadline = start + args.duration if args.duration else float("inf")
    tasks = []
    if args.rate:
        for _ in range(args.requests):
            if time.perf_counter() >= deadline:
                break
            tasks.append(asyncio.create_task(send(*next(workload))))
            await asyncio.sleep(rng.expovariate(args.rate))
        await asyncio.gather(*tasks)
    else:
        remaining = [args.requests]

        async def worker():
            while remaining[0] > 0 and time.perf_counter() < deadline:
                remaining[0] -= 1
                await send(*next(workload))

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    wall = time.perf_counter() - start
    if args.grpc:
        await channel.close()
    else:
        await client.aclose()
    return recorder.summary(wall)


def span(text):
    low, _, high = text.partition(":")
    return int(low), int(high or low)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--url", default="http://127.0.0.1:8080", help="OpenAI-compatible server (streaming completions)")
    target.add_argument("--grpc", metavar="HOST:PORT", help="Strata's gRPC API instead")
    parser.add_argument("--model", default="strata", help="model name sent in OpenAI requests")
    parser.add_argument("--api-key")
    load = parser.add_mutually_exclusive_group()
    load.add_argument("--concurrency", type=int, default=1, help="requests kept in flight (default 1)")
    load.add_argument("--rate", type=float, help="Poisson arrival rate, requests/s")
    parser.add_argument("--requests", type=int, default=32, help="requests to send at most (default 32)")
    parser.add_argument("--duration", type=float, help="seconds to keep sending at most")
    parser.add_argument("--prompts", help="JSONL file of {prompt, max_tokens}")
    parser.add_argument("--prompt-words", type=span, default=(32, 32), help="synthetic prompt words, MIN:MAX (default 32)")
    parser.add_argument("--max-tokens", type=span, default=(32, 32), help="output tokens, MIN:MAX (default 32)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", help="write the summary here")
    args = parser.parse_args()
    summary = asyncio.run(run(args))
    summary["config"] = {k: v for k, v in vars(args).items() if k != "api_key"}
    print(f"completed {summary['completed']}  failed {summary['failed']}  wall {summary['wall_seconds']:.2f} s")
    print(f"request throughput {summary['request_throughput']:.2f} req/s  output {summary['output_tokens_per_s']:.1f} tok/s")
    print("| metric | p50 | p90 | p99 | mean |\n|---|---:|---:|---:|---:|")
    for name in ("ttft", "tpot", "itl", "e2e"):
        row = summary[name]
        cells = " | ".join("-" if row[k] is None else f"{row[k] * 1000:.1f} ms" for k in ("p50", "p90", "p99", "mean"))
        print(f"| {name.upper()} | {cells} |")
    if summary["errors"]:
        print("errors:", ", ".join(summary["errors"]))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
