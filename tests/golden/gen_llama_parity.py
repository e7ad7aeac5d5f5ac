#!/usr/bin/env python3
"""Generates tests/golden/parity/<model>.json: greedy continuations and logits from llama.cpp.

Reference: llama.cpp through llama-cpp-python (version pinned in tools/requirements-golden.txt),
on the same GGUF file the tests load, flash attention off (llama.cpp's CPU default), 2 threads.
For each prompt the fixture stores the prompt ids, the first 64 greedy tokens and, at every
generated position, the top-5 (id, logit). Chat prompts are rendered with jinja2 the way
Hugging Face's apply_chat_template does, then tokenized with special-token parsing.

It also stores llama.cpp's own implementation noise: the logits of the same top-5 ids from
llama.cpp's flash-attention CPU path, teacher-forced along the same tokens. This model
amplifies float rounding differences (massive activations feed 8-bit activation
quantization), so two correct implementations that do not share every summation order
differ by about this much; the tests use it to tell a tie from a disagreement.

Usage: tools/golden-venv/bin/python tests/golden/gen_llama_parity.py MODEL.gguf OUT.json
"""
import json
import sys

import gguf
import jinja2
import jinja2.sandbox
import llama_cpp
import numpy as np

N_GREEDY = 64
TOP = 5

PLAIN_PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Once upon a time, in a small village by the sea,",
    "1, 2, 3, 5, 8, 13,",
    "Les fleurs du printemps sont",
    "Water boils at 100 degrees Celsius. At the top of Mount Everest, water boils at",
]
CHAT_PROMPTS = [
    (None, "What is the tallest mountain in the world?"),
    ("You are a concise assistant.", "Write a haiku about autumn leaves."),
    (None, "Translate 'good morning' into Spanish, French and German."),
    ("You answer with one word.", "What colour is the sky on a clear day?"),
]


def render_chat(template: str, system, user: str) -> str:
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return env.from_string(template).render(messages=messages, add_generation_prompt=True, bos_token="", eos_token="")


def top(logits: np.ndarray, k: int):
    ids = np.argsort(-logits, kind="stable")[:k]
    return [[int(i), float(logits[i])] for i in ids]


def continue_greedy(llm: llama_cpp.Llama, prompt_ids):
    llm.reset()
    llm.eval(prompt_ids)
    tokens, top5 = [], []
    for _ in range(N_GREEDY):
        best = top(np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32), TOP)
        top5.append(best)
        tokens.append(best[0][0])
        llm.eval([best[0][0]])
    return tokens, top5


def teacher_forced_logits(llm: llama_cpp.Llama, prompt_ids, tokens, top5):
    """Logits of the same ids at the same positions, feeding the given tokens."""
    llm.reset()
    llm.eval(prompt_ids + tokens[:-1])
    first = len(prompt_ids) - 1
    return [[float(llm.scores[first + step][tid]) for tid, _ in step_top] for step, step_top in enumerate(top5)]


def main() -> None:
    model_path, out_path = sys.argv[1], sys.argv[2]
    template = gguf.GGUFReader(model_path).fields["tokenizer.chat_template"].contents()
    llm = llama_cpp.Llama(model_path=model_path, n_ctx=1024, n_threads=2, logits_all=True,
                          flash_attn=False, verbose=False)
    llm_fa = llama_cpp.Llama(model_path=model_path, n_ctx=1024, n_threads=2, logits_all=True,
                             flash_attn=True, verbose=False)
    cases = []
    for text in PLAIN_PROMPTS:
        cases.append({"kind": "plain", "text": text, "prompt_ids": llm.tokenize(text.encode(), add_bos=True, special=False)})
    for system, user in CHAT_PROMPTS:
        text = render_chat(template, system, user)
        cases.append({"kind": "chat", "system": system or "", "user": user, "text": text,
                      "prompt_ids": llm.tokenize(text.encode(), add_bos=True, special=True)})
    for case in cases:
        case["greedy"], case["top5"] = continue_greedy(llm, case["prompt_ids"])
        case["flash_attn_logits"] = teacher_forced_logits(llm_fa, case["prompt_ids"], case["greedy"], case["top5"])
    fixture = {
        "reference": f"llama-cpp-python {llama_cpp.__version__}, flash_attn off, n_threads 2",
        "noise_reference": "the same, flash_attn on, teacher-forced along the reference tokens",
        "model": model_path.split("/")[-1],
        "cases": cases,
    }
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
