"""`strata eval` through the binary: full against itself on a tiny grid passes everything exactly,
the report's JSON has its shape, and bad options are one-line usage errors."""
import json
import subprocess

import pytest


def run(binary, *args, timeout=300):
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=timeout)


def test_full_against_itself_agrees_exactly(strata_bin, default_model, tmp_path):
    report_path = tmp_path / "eval.json"
    out = run(strata_bin, "eval", "--model", default_model, "--threads", "2", "--contexts", "128,192",
              "--depths", "0,1", "--samples", "2", "--seed", "3", "--json", report_path)
    assert out.returncode == 0, out.stderr
    for title in ("Passkey retrieval", "Teacher-forced", "Memory and speed"):
        assert title in out.stdout
    report = json.loads(report_path.read_text())
    assert (report["reference"], report["candidate"], report["contexts"]) == ("full", "full", [128, 192])

    passkey = report["passkey"]
    assert passkey["chat_template"] is True and passkey["seed"] == 3
    assert [(c["context"], c["depth"]) for c in passkey["cells"]] == [(128, 0), (128, 1), (192, 0), (192, 1)]
    for cell in passkey["cells"]:
        assert cell["reference"]["samples"] == 2 and cell["prompt_tokens"] <= cell["context"] - passkey["answer_tokens"]
        assert cell["candidate"]["correct"] == cell["reference"]["correct"]
        low, high = cell["reference"]["wilson95"]
        assert 0 <= low <= cell["reference"]["accuracy"] <= high <= 1
        assert cell["judged"] == (cell["reference"]["accuracy"] >= passkey["reference_pass_accuracy"])
        assert cell["ratio"] == (1.0 if cell["judged"] else None)
    summary = passkey["summary"]
    assert summary["cells"] == 4 and summary["candidate_correct"] == summary["reference_correct"]

    forced = report["teacher_forced"]
    assert forced["text"].endswith("eval/texts/alice29.txt") and forced["text_tokens"] > 30000
    for c in forced["contexts"]:
        assert c["all"]["positions"] == c["context"] - 1
        for part in (c["all"], c["decoded"]):
            assert part["top1_agreement"] == 1.0 and part["mean_kl"] == 0.0
            assert part["reference_perplexity"] == part["candidate_perplexity"]

    memory = report["memory_speed"]
    for c in memory["contexts"]:
        assert c["dense_kv_bytes"] == (c["context"] - 1) * memory["kv_bytes_per_token"]
        assert c["reference"]["peak_kv_bytes"] == c["candidate"]["peak_kv_bytes"] >= c["dense_kv_bytes"]
        assert c["reference"]["decode_step_ms_median"] > 0


def test_a_layout_is_the_candidate(strata_bin, default_model, tmp_path):
    layout = tmp_path / "window32.json"
    layout.write_text(json.dumps({"layers": {"2-29": {"backend": "sink_window", "sink_tokens": 4, "window_tokens": 32}}}))
    report_path = tmp_path / "eval.json"
    out = run(strata_bin, "eval", "--model", default_model, "--threads", "2", "--contexts", "256",
              "--tasks", "forced,memory", "--max-num-batched-tokens", "32", "--attention", layout,
              "--json", report_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(report_path.read_text())
    assert (report["reference"], report["candidate"]) == ("full", str(layout))
    forced = report["teacher_forced"]["contexts"][0]["all"]
    assert 0.3 < forced["top1_agreement"] < 1.0 and forced["mean_kl"] > 0
    memory = report["memory_speed"]["contexts"][0]
    assert memory["candidate"]["peak_kv_bytes"] < memory["reference"]["peak_kv_bytes"] / 2


@pytest.mark.parametrize("args, reason", [
    (["--contexts", "9000"], "context 9000 is outside [64, 8192]"),
    (["--contexts", "1k"], "invalid value '1k' for --contexts"),
    (["--depths", "1.5"], "depth 1.5"),
    (["--tasks", "passkey,speed"], "unknown task 'speed'"),
    (["--samples", "0"], "invalid value '0' for --samples"),
])
def test_bad_options_are_usage_errors(strata_bin, default_model, args, reason):
    out = run(strata_bin, "eval", "--model", default_model, *args)
    assert out.returncode == 2, out.stderr
    assert reason in out.stderr and out.stderr.count("\n") == 1
