#!/usr/bin/env python3
"""Generates the tokenizer golden fixtures from llama.cpp (through llama-cpp-python 0.3.16).

For every model given and every string of tests/golden/tokenizer/corpus.json it records
  ids          llama_tokenize(add_special=True, parse_special=False), i.e. Llama.tokenize(text)
  ids_special  llama_tokenize(add_special=True, parse_special=True)
  decoded      llama_detokenize(ids, remove_special=False, unparse_special=False)
  decoded_special  the same for ids_special
plus the model's BOS/EOS/EOT ids, add_bos/add_eos, every end-of-generation id, and the pieces
(llama_token_to_piece with special=True, hex-encoded) of a sample of ids.

The text is decoded with llama.cpp's own llama_detokenize rather than Llama.detokenize: the
Python wrapper reads each piece into a 32-byte buffer (longer pieces come back garbled) and
strips a leading space after BOS even for vocabularies that never add one.

A model given as MODEL:PRE is first copied with tokenizer.ggml.pre set to PRE and without
tokenizer.ggml.add_bos_token (so that PRE's default applies): another pre-tokenizer (e.g.
llama3, qwen2) run over the same vocabulary and merges.

Usage (from the repository root):
  /tmp/golden-venv/bin/python tests/golden/gen_tokenizer_fixtures.py MODEL[:PRE] ...
Writes tests/golden/tokenizer/<model file name without .gguf>[.pre-PRE].json.
"""

import ctypes
import json
import pathlib
import sys
import tempfile

import gguf
import llama_cpp

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURE_DIR = REPO / "tests" / "golden" / "tokenizer"


def tokenize(vocab, text: bytes, parse_special: bool) -> list[int]:
    capacity = len(text) + 16
    buffer = (llama_cpp.llama_token * capacity)()
    n = llama_cpp.llama_tokenize(vocab, text, len(text), buffer, capacity, True, parse_special)
    assert n >= 0, f"tokenize needs {-n} slots"
    return list(buffer[:n])


def detokenize(vocab, ids: list[int]) -> str:
    array = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
    capacity = 64 + 64 * len(ids)
    buffer = ctypes.create_string_buffer(capacity)
    n = llama_cpp.llama_detokenize(vocab, array, len(ids), buffer, capacity, False, False)
    assert n >= 0, f"detokenize needs {-n} bytes"
    return buffer.raw[:n].decode("utf-8")


def piece(vocab, token: int) -> bytes:
    buffer = ctypes.create_string_buffer(256)
    n = llama_cpp.llama_token_to_piece(vocab, token, buffer, 256, 0, True)
    assert 0 <= n <= 256
    return buffer.raw[:n]


def sample_ids(n_vocab: int) -> list[int]:
    ids = set(range(min(n_vocab, 600)))
    ids.update(range(0, n_vocab, 97))
    ids.update(range(max(0, n_vocab - 64), n_vocab))
    return sorted(ids)


def copy_with_pre_tokenizer(model_path: pathlib.Path, pre: str, out_path: pathlib.Path) -> None:
    reader = gguf.GGUFReader(model_path)
    writer = gguf.GGUFWriter(out_path, reader.fields["general.architecture"].contents())
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in ("general.architecture", "tokenizer.ggml.pre",
                                              "tokenizer.ggml.add_bos_token"):
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), value_type, sub_type=sub_type)
    writer.add_string("tokenizer.ggml.pre", pre)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def fixture_for(model_path: pathlib.Path, corpus: list[str]) -> dict:
    llm = llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    cases = []
    for text in corpus:
        raw = text.encode("utf-8")
        ids = tokenize(vocab, raw, parse_special=False)
        assert ids == llm.tokenize(raw, add_bos=True, special=False)
        ids_special = tokenize(vocab, raw, parse_special=True)
        cases.append({
            "text": text,
            "ids": ids,
            "ids_special": ids_special,
            "decoded": detokenize(vocab, ids),
            "decoded_special": detokenize(vocab, ids_special),
        })
    return {
        "model": model_path.name,
        "generator": f"llama-cpp-python {llama_cpp.__version__}",
        "vocab_size": n_vocab,
        "bos": llama_cpp.llama_vocab_bos(vocab),
        "eos": llama_cpp.llama_vocab_eos(vocab),
        "eot": llama_cpp.llama_vocab_eot(vocab),
        "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
        "add_eos": bool(llama_cpp.llama_vocab_get_add_eos(vocab)),
        "eog_ids": [t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t)],
        "pieces": [{"id": t, "hex": piece(vocab, t).hex()} for t in sample_ids(n_vocab)],
        "cases": cases,
    }


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    corpus = json.loads((FIXTURE_DIR / "corpus.json").read_text(encoding="utf-8"))
    for arg in sys.argv[1:]:
        path, _, pre = arg.partition(":")
        model_path = pathlib.Path(path)
        if pre:
            with tempfile.TemporaryDirectory() as tmp:
                variant = pathlib.Path(tmp) / model_path.name
                copy_with_pre_tokenizer(model_path, pre, variant)
                fixture = fixture_for(variant, corpus)
            fixture["pre"] = pre
            out = FIXTURE_DIR / f"{model_path.stem}.pre-{pre}.json"
        else:
            fixture = fixture_for(model_path, corpus)
            out = FIXTURE_DIR / (model_path.stem + ".json")
        out.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"{out.relative_to(REPO)}: {len(fixture['cases'])} cases, {len(fixture['pieces'])} pieces")


if __name__ == "__main__":
    main()
