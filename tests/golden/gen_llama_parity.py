#!/usr/bin/env python3
"""Generates tests/golden/parity/<model>.json: greedy continuations and logits from llama.cpp.

Reference: llama.cpp through llama-cpp-python (version pinned in tools/requirements-golden.txt),
on the same GGUF file the tests load, flash attention off (llama.cpp's CPU default), 2 threads.
For each prompt the fixture stores the prompt ids, the first 64 greedy tokens and, at every
generated position, the top-5 (id, logit). Chat prompts are rendered with jinja2 the way
Hugging Face's apply_chat_template does, then tokenized with special-token parsing; a base model
(no chat template) gets plain prompts only. A model with sliding-window layers also gets prompts
longer than its window (512 tokens for Gemma 3 270M), so that the window masks keys.

It also stores llama.cpp's own implementation noise: the logits of the same top-5 ids from
llama.cpp's flash-attention CPU path, teacher-forced along the same tokens. This model
amplifies float rounding differences (massive activations feed 8-bit activation
quantization), so two correct implementations that do not share every summation order
differ by about this much; the tests use it to tell a tie from a disagreement.

Usage: tools/golden-venv/bin/python tests/golden/gen_llama_parity.py MODEL.gguf OUT.json
  e.g. models/SmolLM2-135M-Instruct.Q4_1.gguf tests/golden/parity/smollm2-135m-instruct-q4_1.json
       models/gemma-3-270m-q4_k_m.gguf tests/golden/parity/gemma-3-270m-q4_k_m.json
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

# Public-domain passages, each longer than 512 tokens with the prompt's continuation.
DECLARATION = (
    "When in the Course of human events, it becomes necessary for one people to dissolve the political bands "
    "which have connected them with another, and to assume among the powers of the earth, the separate and equal "
    "station to which the Laws of Nature and of Nature's God entitle them, a decent respect to the opinions of "
    "mankind requires that they should declare the causes which impel them to the separation.\n\n"
    "We hold these truths to be self-evident, that all men are created equal, that they are endowed by their "
    "Creator with certain unalienable Rights, that among these are Life, Liberty and the pursuit of Happiness. "
    "That to secure these rights, Governments are instituted among Men, deriving their just powers from the "
    "consent of the governed, That whenever any Form of Government becomes destructive of these ends, it is the "
    "Right of the People to alter or to abolish it, and to institute new Government, laying its foundation on "
    "such principles and organizing its powers in such form, as to them shall seem most likely to effect their "
    "Safety and Happiness. Prudence, indeed, will dictate that Governments long established should not be changed "
    "for light and transient causes; and accordingly all experience hath shewn, that mankind are more disposed to "
    "suffer, while evils are sufferable, than to right themselves by abolishing the forms to which they are "
    "accustomed. But when a long train of abuses and usurpations, pursuing invariably the same Object evinces a "
    "design to reduce them under absolute Despotism, it is their right, it is their duty, to throw off such "
    "Government, and to provide new Guards for their future security. Such has been the patient sufferance of "
    "these Colonies; and such is now the necessity which constrains them to alter their former Systems of "
    "Government. The history of the present King of Great Britain is a history of repeated injuries and "
    "usurpations, all having in direct object the establishment of an absolute Tyranny over these States. To "
    "prove this, let Facts be submitted to a candid world.\n\n"
    "He has refused his Assent to Laws, the most wholesome and necessary for the public good.\n\n"
    "He has forbidden his Governors to pass Laws of immediate and pressing importance, unless suspended in their "
    "operation till his Assent should be obtained; and when so suspended, he has utterly neglected to attend to "
    "them.\n\n"
    "He has refused to pass other Laws for the accommodation of large districts of people, unless those people "
    "would relinquish the right of Representation in the Legislature, a right inestimable to them and formidable "
    "to tyrants only.\n\n"
    "He has called together legislative bodies at places unusual, uncomfortable, and distant from the depository "
    "of their public Records, for the sole purpose of fatiguing them into compliance with his measures.\n\n"
    "He has dissolved Representative Houses repeatedly, for opposing with manly firmness his invasions on the "
    "rights of the people.\n\n"
    "He has refused for a long time, after such dissolutions, to cause others to be elected; whereby the "
    "Legislative powers, incapable of Annihilation, have returned to the People at large for their exercise; the "
    "State remaining in the mean time exposed to all the dangers of invasion from without, and convulsions "
    "within.\n\n"
    "He has endeavoured to prevent the population of these States;"
)
LONG_PROMPTS = [
    DECLARATION,
    ", ".join(str(i) for i in range(1, 160)) + ",",  # counting: the next number needs only the window
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
    fields = gguf.GGUFReader(model_path).fields
    template = fields["tokenizer.chat_template"].contents() if "tokenizer.chat_template" in fields else None
    architecture = fields["general.architecture"].contents()
    sliding = f"{architecture}.attention.sliding_window" in fields
    llm = llama_cpp.Llama(model_path=model_path, n_ctx=1024, n_threads=2, logits_all=True,
                          flash_attn=False, verbose=False)
    llm_fa = llama_cpp.Llama(model_path=model_path, n_ctx=1024, n_threads=2, logits_all=True,
                             flash_attn=True, verbose=False)
    cases = []
    for text in PLAIN_PROMPTS + (LONG_PROMPTS if sliding else []):
        cases.append({"kind": "plain", "text": text, "prompt_ids": llm.tokenize(text.encode(), add_bos=True, special=False)})
    for system, user in CHAT_PROMPTS if template else []:
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
