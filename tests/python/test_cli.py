"""The `strata` command line: results on stdout, one-line reasons and non-zero exits on bad input."""
import json
import subprocess

import pytest

from conftest import ROOT

PARITY = json.loads((ROOT / "tests/golden/parity/smollm2-135m-instruct-q4_1.json").read_text())


def run(binary, *args, timeout=120):
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def test_info_describes_the_model(strata_bin, default_model):
    out = run(strata_bin, "info", "--model", default_model, "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["architecture"] == "llama"
    assert (info["layers"], info["heads"], info["kv_heads"], info["head_dim"]) == (30, 9, 3, 64)
    assert (info["context_length"], info["vocab_size"]) == (8192, 49152)
    assert info["tensor_types"] == {"F32": 61, "Q4_1": 210, "Q8_0": 1}
    assert info["chat_template"] is True
    text = run(strata_bin, "info", "--model", default_model)
    assert text.returncode == 0 and "architecture:" in text.stdout and "kv_heads:" in text.stdout


def test_tokenize_prints_llama_cpp_ids(strata_bin, default_model):
    case = PARITY["cases"][0]
    out = run(strata_bin, "tokenize", "--model", default_model, "--text", case["text"])
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == case["prompt_ids"]


def test_greedy_generation_is_llama_cpp_continuation(strata_bin, default_model):
    # The first case's 64-token greedy continuation is identical to llama.cpp's (test_llama_parity).
    case = PARITY["cases"][0]
    out = run(strata_bin, "generate", "--model", default_model, "--prompt", case["text"],
              "--temperature", "0", "--max-tokens", "24", "--threads", "2")
    assert out.returncode == 0, out.stderr
    expected = run(strata_bin, "tokenize", "--model", default_model, "--text", case["text"] + out.stdout.rstrip("\n"))
    assert json.loads(expected.stdout)[len(case["prompt_ids"]):][:20] == case["greedy"][:20]


def test_chat_generation_and_seeded_sampling(strata_bin, default_model):
    args = ["generate", "--model", default_model, "--chat", "--prompt", "Name a colour.", "--max-tokens", "12",
            "--temperature", "1.0", "--top-p", "0.9", "--top-k", "40", "--seed", "7", "--threads", "2"]
    first, second = run(strata_bin, *args), run(strata_bin, *args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and first.stdout.strip()
    other = run(strata_bin, *args[:-4], "--seed", "8", "--threads", "2")
    assert other.returncode == 0


@pytest.mark.parametrize("args, reason", [
    (["generate"], "missing required option --model"),
    (["generate", "--model", "/nonexistent.gguf", "--prompt", "x"], "No such file"),
    (["generate", "--model", "{model}", "--prompt", "x", "--temperature", "-1"], "invalid value '-1' for --temperature"),
    (["generate", "--model", "{model}", "--prompt", "x", "--top-p", "abc"], "invalid value 'abc' for --top-p"),
    (["generate", "--model", "{model}", "--prompt", "x", "--max-tokens", "0"], "invalid value '0' for --max-tokens"),
    (["generate", "--model", "{model}", "--prompt", "x", "--seed", "-3"], "invalid value '-3' for --seed"),
    (["generate", "--model", "{model}", "--prompt", "x", "--bogus", "1"], "unknown option '--bogus'"),
    (["generate", "--model", "{model}", "--prompt"], "needs a value"),
    (["generate", "--model", "{model}", "--prompt", "x", "--system", "s"], "--system needs --chat"),
    (["tokenize", "--model", "{model}"], "missing required option --text"),
    (["frobnicate"], "unknown command 'frobnicate'"),
])
def test_bad_flags_exit_nonzero_with_one_line_reason(strata_bin, default_model, args, reason):
    out = run(strata_bin, *[a.replace("{model}", str(default_model)) for a in args])
    assert out.returncode != 0
    assert reason in out.stderr
    assert out.stdout == ""


def corrupt_files(tmp_path, default_model):
    data = default_model.read_bytes()
    files = {
        "not GGUF": b"hello, this is not a model file at all",
        "bad magic": b"GGUX" + data[4:4096],
        "truncated": data[: len(data) // 2],
        "header only": data[:24],
    }
    arch = data.replace(b"general.architecture\x08\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00llama",
                        b"general.architecture\x08\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00gpt99", 1)
    assert arch != data
    files["unknown architecture"] = arch
    paths = {}
    for name, content in files.items():
        path = tmp_path / (name.replace(" ", "_") + ".gguf")
        path.write_bytes(content)
        paths[name] = path
    return paths


@pytest.mark.parametrize("command", ["info", "generate", "tokenize"])
def test_corrupt_model_files_are_refused_cleanly(strata_bin, default_model, tmp_path, command):
    expected = {"not GGUF": "bad magic", "bad magic": "bad magic", "truncated": "past the end of the file",
                "header only": "truncated", "unknown architecture": "unknown architecture 'gpt99'"}
    for name, path in corrupt_files(tmp_path, default_model).items():
        if command == "tokenize" and name == "unknown architecture":
            continue  # tokenizing needs only the vocabulary, which is intact
        extra = {"info": [], "generate": ["--prompt", "hi"], "tokenize": ["--text", "hi"]}[command]
        out = run(strata_bin, command, "--model", path, *extra)
        assert out.returncode == 1, (name, out.stderr)
        assert expected[name] in out.stderr, (name, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, (name, out.stderr)


@pytest.mark.parametrize("command", ["generate", "tokenize", "info", "bench", "serve"])
def test_help_needs_no_other_option(strata_bin, command):
    out = run(strata_bin, command, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: strata {command}") and "--model" in out.stdout


def test_serve_reads_a_config_file_and_flags_win(strata_bin, default_model, tmp_path):
    import json as _json
    import signal
    import socket
    import time
    import urllib.request

    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    port = free_port()
    config = tmp_path / "serve.json"
    config.write_text(_json.dumps({"model": str(default_model), "port": 1, "grpc-port": free_port(),
                                   "served-model-name": "from-config", "kv-cache-mib": 32, "threads": 2}))
    proc = subprocess.Popen([str(strata_bin), "serve", "--config", str(config), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as r:
                    models = _json.loads(r.read())
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                time.sleep(0.05)
        assert [m["id"] for m in models["data"]] == ["from-config"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    for bad, reason in [({"prot": 1}, "unknown setting 'prot'"), ({"port": [1]}, "must be a string or a number"),
                        ({"no-prefix-cache": 1}, "must be true or false")]:
        config.write_text(_json.dumps(bad))
        out = run(strata_bin, "serve", "--model", default_model, "--config", config)
        assert out.returncode == 2 and reason in out.stderr
    config.write_text("{not json")
    assert "not valid JSON" in run(strata_bin, "serve", "--model", default_model, "--config", config).stderr


def test_the_example_config_is_accepted(strata_bin):
    # Every key of the shipped example names a real `serve` setting (a typo would be refused).
    import json as _json
    example = _json.loads((ROOT / "configs/serve.example.json").read_text())
    usage = run(strata_bin, "serve", "--help").stdout
    for key in example:
        assert f"--{key} " in usage, key
