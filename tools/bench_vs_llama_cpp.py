#!/usr/bin/env python3
"""CPU speed of Strata and llama.cpp on the same GGUF file, same threads, in one run.

Single sequence (default):
  prompt processing (pp): one forward over N prompt tokens from an empty cache;
  token generation (tg): M single-token steps after that prompt, each feeding back the argmax.
  Both engines get the same fixed pseudo-random prompt ids; the best of R repetitions is kept.
Offline throughput (--concurrency 1,4,16): C sequences with N-token prompts, all prefilled in
  one batch, then M decode steps of C tokens each (greedy, no early stop); total tokens/s =
  C * (N + M) / wall time, generation tokens/s = C * M / wall time. llama.cpp gets the same
  schedule through its batch API (one sequence id per request, one unified KV cache).
llama.cpp runs through llama-cpp-python (tools/requirements-golden.txt).

Usage: tools/golden-venv/bin/python tools/bench_vs_llama_cpp.py --model M.gguf [--threads 2]
         [--prompt-tokens 128] [--gen-tokens 64] [--repetitions 3] [--concurrency 1,4,16]
         [--json out.json]
"""
import argparse
import json
import pathlib
import subprocess
import tempfile
import time

import llama_cpp
import numpy as np


def bench_llama_cpp(model, threads, n_prompt, n_gen, reps):
    # n_batch also sizes llama-cpp-python's logits rows (without logits_all), which the generation
    # loop indexes by position: room for the prompt and every generated token.
    llm = llama_cpp.Llama(model_path=model, n_ctx=n_prompt + n_gen + 16, n_batch=max(512, n_prompt + n_gen),
                          n_threads=threads, n_threads_batch=threads, verbose=False)
    rng = np.random.default_rng(1234)
    prompt = [int(t) for t in rng.integers(0, llm.n_vocab(), n_prompt)]
    best_pp = best_tg = 0.0
    for _ in range(reps):
        llm.reset()
        start = time.perf_counter()
        llm.eval(prompt)
        best_pp = max(best_pp, n_prompt / (time.perf_counter() - start))
        start = time.perf_counter()
        for _ in range(n_gen):
            llm.eval([int(np.argmax(llm.scores[llm.n_tokens - 1]))])
        best_tg = max(best_tg, n_gen / (time.perf_counter() - start))
    return best_pp, best_tg


def llama_cpp_throughput(model, threads, concurrency, n_prompt, n_gen):
    from llama_cpp import llama_cpp as lib

    lib.llama_backend_init()
    mparams = lib.llama_model_default_params()
    lmodel = lib.llama_model_load_from_file(model.encode(), mparams)
    cparams = lib.llama_context_default_params()
    cparams.n_ctx = concurrency * (n_prompt + n_gen) + 256
    cparams.n_batch = cparams.n_ubatch = max(512, concurrency * n_prompt)
    cparams.n_seq_max = concurrency
    cparams.n_threads = cparams.n_threads_batch = threads
    ctx = lib.llama_init_from_model(lmodel, cparams)
    n_vocab = lib.llama_vocab_n_tokens(lib.llama_model_get_vocab(lmodel))
    rng = np.random.default_rng(concurrency)
    prompts = [[int(t) for t in rng.integers(0, n_vocab, n_prompt)] for _ in range(concurrency)]
    batch = lib.llama_batch_init(concurrency * n_prompt, 0, concurrency)

    def fill(entries):  # entries: (token, position, sequence, wants logits)
        batch.n_tokens = len(entries)
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, pos, 1
            batch.seq_id[i][0], batch.logits[i] = seq, logits

    start = time.perf_counter()
    fill([(t, p, s, p == n_prompt - 1) for s, prompt in enumerate(prompts) for p, t in enumerate(prompt)])
    assert lib.llama_decode(ctx, batch) == 0
    rows = [s * n_prompt + n_prompt - 1 for s in range(concurrency)]
    for step in range(n_gen):
        nxt = [int(np.argmax(np.ctypeslib.as_array(lib.llama_get_logits_ith(ctx, r), shape=(n_vocab,)))) for r in rows]
        fill([(nxt[s], n_prompt + step, s, True) for s in range(concurrency)])
        assert lib.llama_decode(ctx, batch) == 0
        rows = list(range(concurrency))
    seconds = time.perf_counter() - start
    lib.llama_batch_free(batch)
    lib.llama_free(ctx)
    lib.llama_model_free(lmodel)
    return {"concurrency": concurrency, "seconds": seconds,
            "total_tokens_per_s": concurrency * (n_prompt + n_gen) / seconds,
            "generation_tokens_per_s": concurrency * n_gen / seconds}


def strata_throughput(binary, model, threads, levels, n_prompt, n_gen):
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "strata.json"
        subprocess.run([binary, "bench", "--model", model, "--threads", str(threads), "--prompt-tokens", str(n_prompt),
                        "--gen-tokens", str(n_gen), "--concurrency", ",".join(map(str, levels)),
                        "--max-num-batched-tokens", str(max(levels) * n_prompt), "--json", str(out)],
                       check=True, capture_output=True)
        return json.loads(out.read_text())["throughput"]


def bench_strata(binary, model, threads, n_prompt, n_gen, reps):
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "strata.json"
        subprocess.run([binary, "bench", "--model", model, "--threads", str(threads), "--prompt-tokens", str(n_prompt),
                        "--gen-tokens", str(n_gen), "--repetitions", str(reps), "--json", str(out)],
                       check=True, capture_output=True)
        result = json.loads(out.read_text())
    return result["pp_tokens_per_s"], result["tg_tokens_per_s"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--strata", default="build/bin/strata")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--gen-tokens", type=int, default=64)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--concurrency", help="offline throughput at these levels, e.g. 1,4,16")
    parser.add_argument("--json")
    a = parser.parse_args()
    if a.concurrency:
        levels = [int(c) for c in a.concurrency.split(",")]
        ours = strata_throughput(a.strata, a.model, a.threads, levels, a.prompt_tokens, a.gen_tokens)
        theirs = [llama_cpp_throughput(a.model, a.threads, c, a.prompt_tokens, a.gen_tokens) for c in levels]
        print(f"| concurrency | strata total tok/s | llama.cpp total tok/s | strata gen tok/s | llama.cpp gen tok/s | ratio |")
        print("|---:|---:|---:|---:|---:|---:|")
        for o, t in zip(ours, theirs):
            print(f"| {o['concurrency']} | {o['total_tokens_per_s']:.1f} | {t['total_tokens_per_s']:.1f} | "
                  f"{o['generation_tokens_per_s']:.1f} | {t['generation_tokens_per_s']:.1f} | "
                  f"{o['total_tokens_per_s'] / t['total_tokens_per_s']:.2f} |")
        if a.json:
            pathlib.Path(a.json).write_text(json.dumps({"model": a.model, "threads": a.threads, "prompt_tokens": a.prompt_tokens,
                                                        "gen_tokens": a.gen_tokens, "strata": ours, "llama_cpp": theirs,
                                                        "llama_cpp_version": llama_cpp.__version__}, indent=2) + "\n")
        return
    # Interleaved so that both see the same machine state.
    strata = bench_strata(a.strata, a.model, a.threads, a.prompt_tokens, a.gen_tokens, a.repetitions)
    llama = bench_llama_cpp(a.model, a.threads, a.prompt_tokens, a.gen_tokens, a.repetitions)
    rows = [("strata", *strata), (f"llama.cpp (llama-cpp-python {llama_cpp.__version__})", *llama)]
    print(f"| engine | threads | pp{a.prompt_tokens} tok/s | tg{a.gen_tokens} tok/s |")
    print("|---|---:|---:|---:|")
    for name, pp, tg in rows:
        print(f"| {name} | {a.threads} | {pp:.1f} | {tg:.1f} |")
    print(f"| ratio strata / llama.cpp | | {strata[0] / llama[0]:.2f} | {strata[1] / llama[1]:.2f} |")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps({
            "model": a.model, "threads": a.threads, "prompt_tokens": a.prompt_tokens, "gen_tokens": a.gen_tokens,
            "strata": {"pp_tokens_per_s": strata[0], "tg_tokens_per_s": strata[1]},
            "llama_cpp": {"version": llama_cpp.__version__, "pp_tokens_per_s": llama[0], "tg_tokens_per_s": llama[1]},
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
