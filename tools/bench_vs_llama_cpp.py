#!/usr/bin/env python3
"""CPU speed of Strata and llama.cpp on the same GGUF file, same threads, in one run.

Prompt processing (pp): one forward over N prompt tokens from an empty cache.
Token generation (tg): M single-token steps after that prompt, each feeding back the argmax.
Both engines get the same fixed pseudo-random prompt ids; the best of R repetitions is kept.
llama.cpp runs through llama-cpp-python (tools/requirements-golden.txt).

Usage: tools/golden-venv/bin/python tools/bench_vs_llama_cpp.py --model M.gguf [--threads 2]
         [--prompt-tokens 128] [--gen-tokens 64] [--repetitions 3] [--json out.json]
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
    llm = llama_cpp.Llama(model_path=model, n_ctx=n_prompt + n_gen + 16, n_batch=max(512, n_prompt),
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
    parser.add_argument("--json")
    a = parser.parse_args()
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
