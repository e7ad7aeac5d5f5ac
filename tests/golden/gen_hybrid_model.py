#!/usr/bin/env python3
"""Generates tests/golden/hybrid/: a tiny random Qwen3-Next (gated delta-rule + full attention)
model as a GGUF, and transformers' logits for it, for test_hybrid_model to match.

Reference: transformers' Qwen3NextForCausalLM (versions pinned in
tools/requirements-transformers.txt), fp32 on the CPU, its torch code paths (no fla or
causal-conv1d kernels), one forward over each whole sequence without a cache.

The model: 4 layers, three linear (gated delta rule) then one full attention
(full_attention_interval 4), hidden 64; layers 0 and 2 with a dense SwiGLU MLP (mlp_only_layers),
layers 1 and 3 with the sparse mixture of experts (4 experts of width 32, 2 a token, renormalized,
and a shared expert of width 48 behind its sigmoid gate); a byte-level BPE vocabulary of 288
tokens. Weights are seeded random numbers at scales that keep
the logits spread (the model's own init would make them nearly uniform); matrices are rounded to
fp16 and written as F16, so both sides hold exactly the same weights.

GGUF: llama.cpp's names and keys for `qwen3next` (convert_hf_to_gguf.py's Qwen3NextModel):
- RMSNorm weights are zero-centred in transformers (x * (1 + w)); the file holds 1 + w, except
  the gated norm of the linear layers (ssm_norm), which transformers multiplies by w as is;
- ssm_a = -exp(A_log), ssm_dt.bias = dt_bias, ssm_conv1d = the depthwise kernel [channels][4];
- ssm_in = in_proj_qkvz and ssm_ba = in_proj_ba in transformers' layout (grouped by key head:
  q, k, then the group's v and z heads; b then a);
- attn_q = q_proj: per head, head_dim query rows then head_dim gate rows;
- the FFN norm is post_attention_norm; the dense MLP uses llama's ffn_gate/ffn_up/ffn_down
  (llama.cpp's qwen3next has only MoE FFNs: this file is for Strata's tests, not for llama.cpp);
- experts: ffn_gate_inp = the router, ffn_gate_exps / ffn_up_exps = the two halves of
  gate_up_proj, ffn_down_exps = down_proj (one matrix per expert along the slowest dimension),
  ffn_gate_inp_shexp = shared_expert_gate as a vector, ffn_{gate,up,down}_shexp = shared_expert.

Fixture (JSON): the config, and per sequence its tokens and the logits (fp32) of selected
positions: every position of the short ones, and of the long one (200 tokens: four 64-token
prefill chunks) the first three, every eighth and the last three.

Usage: /tmp/hf-venv/bin/python tests/golden/gen_hybrid_model.py OUT_DIR
"""
import json
import math
import os
import sys
from collections import Counter

import gguf
import numpy as np
import torch
import transformers
from transformers import Qwen3NextConfig, Qwen3NextForCausalLM

from gen_linear_attention_fixtures import Float32Encoder

SEED = 20261205
HIDDEN = 64
LAYERS = 4
VOCAB = 288  # 256 bytes + 31 merges + <|endoftext|>
SEQUENCE_LENGTHS = [6, 24, 200]
DENSE_LAYERS = [0, 2]
EXPERTS, EXPERTS_USED, EXPERT_WIDTH, SHARED_WIDTH = 4, 2, 32, 48
SAMPLE_TEXT = ("the quick brown fox jumps over the lazy dog; the rain in spain stays mainly in the plain. "
               "she sells sea shells on the sea shore, and the shells she sells are surely sea shells.")


def bytes_to_unicode():
    """GPT-2's byte-level alphabet: printable bytes stand for themselves, the rest map above 255."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def tiny_bpe(n_merges):
    """256 byte tokens, then n_merges merges learnt greedily from SAMPLE_TEXT's words."""
    alphabet = bytes_to_unicode()
    tokens = [alphabet[b] for b in range(256)]
    words = Counter()
    for i, word in enumerate(SAMPLE_TEXT.split(" ")):
        text = (" " if i else "") + word
        words[tuple(alphabet[b] for b in text.encode())] += 1
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best[0] + " " + best[1])
        tokens.append(best[0] + best[1])
        merged = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    return tokens, merges


def make_model():
    config = Qwen3NextConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=96, num_hidden_layers=LAYERS,
        num_attention_heads=4, num_key_value_heads=2, head_dim=32,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
        linear_num_key_heads=2, linear_num_value_heads=4, linear_key_head_dim=16, linear_value_head_dim=16,
        linear_conv_kernel_dim=4, layer_types=["linear_attention"] * 3 + ["full_attention"],
        mlp_only_layers=DENSE_LAYERS, num_experts=EXPERTS, num_experts_per_tok=EXPERTS_USED,
        moe_intermediate_size=EXPERT_WIDTH, shared_expert_intermediate_size=SHARED_WIDTH, decoder_sparse_step=1,
        norm_topk_prob=True, max_position_embeddings=512, rms_norm_eps=1e-6, tie_word_embeddings=False)
    config._attn_implementation = "eager"
    model = Qwen3NextForCausalLM(config).float().eval()
    rng = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("A_log"):  # A in [1, 16] as the layer initialises it
                p.copy_(torch.log(torch.empty(p.shape).uniform_(1, 16, generator=rng)))
            elif name.endswith("dt_bias"):
                p.copy_(torch.randn(p.shape, generator=rng) - 2.0)
            elif name.endswith("conv1d.weight"):
                p.copy_(torch.randn(p.shape, generator=rng) * 0.5)
            elif name.endswith("linear_attn.norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=rng))
            elif p.dim() == 1:  # zero-centred RMSNorm weights
                p.copy_(0.1 * torch.randn(p.shape, generator=rng))
            elif name == "model.embed_tokens.weight":
                p.copy_(torch.randn(p.shape, generator=rng).half().float())
            else:  # projections (experts' too): unit-variance outputs; the LM head a little wider for spread logits
                scale = (4.0 if name == "lm_head.weight" else 1.0) / math.sqrt(p.shape[-1])
                p.copy_((torch.randn(p.shape, generator=rng) * scale).half().float())
    return config, model


def np32(t):
    return t.detach().to(torch.float32).numpy()


def write_gguf(path, config, model, tokens, merges):
    w = gguf.GGUFWriter(path, "qwen3next")
    w.add_name("tiny random qwen3next")
    w.add_block_count(LAYERS)
    w.add_context_length(config.max_position_embeddings)
    w.add_embedding_length(HIDDEN)
    w.add_feed_forward_length(config.intermediate_size)
    w.add_head_count(config.num_attention_heads)
    w.add_head_count_kv(config.num_key_value_heads)
    w.add_key_length(config.head_dim)
    w.add_value_length(config.head_dim)
    w.add_rope_dimension_count(int(config.head_dim * 0.25))
    w.add_rope_freq_base(config.rope_parameters["rope_theta"])
    w.add_layer_norm_rms_eps(config.rms_norm_eps)
    w.add_ssm_conv_kernel(config.linear_conv_kernel_dim)
    w.add_ssm_state_size(config.linear_key_head_dim)
    w.add_ssm_group_count(config.linear_num_key_heads)
    w.add_ssm_time_step_rank(config.linear_num_value_heads)
    w.add_ssm_inner_size(config.linear_value_head_dim * config.linear_num_value_heads)
    w.add_full_attention_interval(4)
    w.add_expert_count(EXPERTS)
    w.add_expert_used_count(EXPERTS_USED)
    w.add_expert_feed_forward_length(EXPERT_WIDTH)
    w.add_expert_shared_feed_forward_length(SHARED_WIDTH)
    w.add_expert_weights_norm(True)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.NORMAL] * (len(tokens) - 1) + [gguf.TokenType.CONTROL])
    w.add_token_merges(merges)
    w.add_eos_token_id(len(tokens) - 1)
    w.add_add_bos_token(False)

    def matrix(name, t):
        w.add_tensor(name, np.ascontiguousarray(np32(t).astype(np.float16)))

    def vector(name, t):
        w.add_tensor(name, np32(t).astype(np.float32))

    m = model.model
    matrix("token_embd.weight", m.embed_tokens.weight)
    vector("output_norm.weight", 1.0 + m.norm.weight)
    matrix("output.weight", model.lm_head.weight)
    for i, layer in enumerate(m.layers):
        p = f"blk.{i}."
        vector(p + "attn_norm.weight", 1.0 + layer.input_layernorm.weight)
        vector(p + "post_attention_norm.weight", 1.0 + layer.post_attention_layernorm.weight)
        if i in DENSE_LAYERS:
            matrix(p + "ffn_gate.weight", layer.mlp.gate_proj.weight)
            matrix(p + "ffn_up.weight", layer.mlp.up_proj.weight)
            matrix(p + "ffn_down.weight", layer.mlp.down_proj.weight)
        else:
            moe = layer.mlp
            matrix(p + "ffn_gate_inp.weight", moe.gate.weight)
            matrix(p + "ffn_gate_exps.weight", moe.experts.gate_up_proj[:, :EXPERT_WIDTH, :])
            matrix(p + "ffn_up_exps.weight", moe.experts.gate_up_proj[:, EXPERT_WIDTH:, :])
            matrix(p + "ffn_down_exps.weight", moe.experts.down_proj)
            vector(p + "ffn_gate_inp_shexp.weight", moe.shared_expert_gate.weight[0])
            matrix(p + "ffn_gate_shexp.weight", moe.shared_expert.gate_proj.weight)
            matrix(p + "ffn_up_shexp.weight", moe.shared_expert.up_proj.weight)
            matrix(p + "ffn_down_shexp.weight", moe.shared_expert.down_proj.weight)
        if config.layer_types[i] == "linear_attention":
            a = layer.linear_attn
            matrix(p + "ssm_in.weight", a.in_proj_qkvz.weight)
            matrix(p + "ssm_ba.weight", a.in_proj_ba.weight)
            vector(p + "ssm_conv1d.weight", a.conv1d.weight.squeeze(1))
            vector(p + "ssm_a", -torch.exp(a.A_log))
            vector(p + "ssm_dt.bias", a.dt_bias)
            vector(p + "ssm_norm.weight", a.norm.weight)
            matrix(p + "ssm_out.weight", a.out_proj.weight)
        else:
            a = layer.self_attn
            matrix(p + "attn_q.weight", a.q_proj.weight)
            matrix(p + "attn_k.weight", a.k_proj.weight)
            matrix(p + "attn_v.weight", a.v_proj.weight)
            matrix(p + "attn_output.weight", a.o_proj.weight)
            vector(p + "attn_q_norm.weight", 1.0 + a.q_norm.weight)
            vector(p + "attn_k_norm.weight", 1.0 + a.k_norm.weight)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def kept_positions(n):
    if n <= 32:
        return list(range(n))
    return sorted(set(range(3)) | set(range(7, n, 8)) | set(range(n - 3, n)))


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(SEED)
    config, model = make_model()
    tokens, merges = tiny_bpe(VOCAB - 257)
    tokens.append("<|endoftext|>")
    assert len(tokens) == VOCAB
    gguf_path = os.path.join(out_dir, "qwen3next-tiny.gguf")
    write_gguf(gguf_path, config, model, tokens, merges)

    rng = torch.Generator().manual_seed(SEED + 1)
    sequences = []
    for n in SEQUENCE_LENGTHS:
        ids = torch.randint(0, VOCAB - 1, (1, n), generator=rng)
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0]
        positions = kept_positions(n)
        sequences.append({"tokens": ids[0].tolist(), "positions": positions,
                          "logits": [[float(x) for x in np32(logits[p])] for p in positions]})
        print(f"{n} tokens: logits std {float(logits.std()):.2f}, top-1 margin median "
              f"{float((logits.topk(2).values[:, 0] - logits.topk(2).values[:, 1]).median()):.3f}")
    fixture = {
        "reference": (f"transformers {transformers.__version__} Qwen3NextForCausalLM, torch {torch.__version__}, "
                      "fp32 CPU, eager attention, random weights; generated by tests/golden/gen_hybrid_model.py"),
        "model": "qwen3next-tiny.gguf",
        "vocab_size": VOCAB,
        "sequences": sequences,
    }
    json_path = os.path.join(out_dir, "qwen3next_tiny_logits.json")
    with open(json_path, "w") as f:
        f.write(json.dumps(fixture, cls=Float32Encoder))
        f.write("\n")
    for path in (gguf_path, json_path):
        print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
