"""The per-layer attention layout on the outside: `strata serve --attention FILE` shows the resolved
plan in /v1/models (field "attention") and gRPC ModelInfo and still answers; `strata info --attention`
prints it; bad layouts are refused at start-up with one line naming the layer and the reason."""
import json
import subprocess
import sys

import grpc
import httpx
import pytest

from conftest import ROOT, StrataServer

LAYOUTS = ROOT / "configs" / "attention"


def run(binary, *args, timeout=120):
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def moa_server(strata_bin, default_model):
    server = StrataServer(strata_bin, default_model, "--attention", LAYOUTS / "moa_smollm2.json")
    yield server
    assert server.stop() == 0, server.log_text()


def test_v1_models_shows_the_resolved_layout(moa_server):
    card = httpx.get(moa_server.url + "/v1/models").json()["data"][0]
    attention = card["attention"]
    assert attention["layout"].endswith("moa_smollm2.json'")
    layers = attention["layers"]
    assert len(layers) == 30
    assert layers[0] == {"layer": 0, "trained_as": "full", "backend": "full", "rule": "0-1", "cache_group": 0}
    assert layers[2]["backend"] == "sink_window" and layers[2]["rule"] == "2-29"
    assert (layers[2]["sink_tokens"], layers[2]["window_tokens"]) == (4, 2048)
    assert layers[2]["head_windows"] == [512] * 3 + [1024] * 3 + [2048] * 3
    assert attention["cache_groups"] == [
        {"kind": "paged_kv", "layers": "0-1", "bytes_per_token": 2 * 768},
        {"kind": "window_kv", "layers": "2-29", "sink_tokens": 4, "window_tokens": 2048, "bytes_per_token": 28 * 768},
    ]
    # The same card by name, and the server still generates.
    assert httpx.get(moa_server.url + "/v1/models/" + moa_server.model_name).json()["attention"] == attention
    reply = httpx.post(moa_server.url + "/v1/completions",
                       json={"prompt": "The capital of France is", "max_tokens": 8, "temperature": 0}, timeout=120)
    assert reply.status_code == 200 and reply.json()["usage"]["completion_tokens"] == 8
    assert "prefix caching is off" in moa_server.log_text()


def test_grpc_model_info_shows_the_resolved_layout(moa_server):
    sys.path.insert(0, str(ROOT / "tests/load"))
    import strata_grpc_stubs
    pb, pb_grpc = strata_grpc_stubs.load()
    with grpc.insecure_channel(f"127.0.0.1:{moa_server.grpc_port}") as channel:
        info = pb_grpc.InferenceStub(channel).ModelInfo(pb.ModelInfoRequest(), timeout=30)
    assert info.attention_layout.endswith("moa_smollm2.json'")
    assert [layer.attention for layer in info.layers] == ["full"] * 2 + ["sink_window"] * 28
    layer = info.layers[16]
    assert (layer.trained_as, layer.sink_tokens, layer.window_tokens, layer.cache_group, layer.rule) == \
        ("full", 4, 2048, 1, "2-29")
    assert list(layer.head_windows) == [1024] * 3 + [2048] * 6
    assert [(g.kind, g.layers) for g in info.cache_groups] == [("paged_kv", "0-1"), ("window_kv", "2-29")]
    assert not info.prefix_cache


def test_info_prints_the_plan_and_the_kv_figure(strata_bin, default_model):
    out = run(strata_bin, "info", "--model", default_model, "--attention", LAYOUTS / "sink_window_25pct.json", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert {layer["window_tokens"] for layer in info["attention"]["layers"]} == {2048}
    assert info["kv_bytes_at_context"]["tokens"] == 8192
    assert 0.25 < info["kv_bytes_at_context"]["fraction"] < 0.26
    text = run(strata_bin, "info", "--model", default_model, "--attention", LAYOUTS / "moa_smollm2.json").stdout
    assert "layers 0-1: trained full; full; cache group 0 (paged_kv)" in text


def test_info_shows_an_evict_layout(strata_bin, default_model):
    out = run(strata_bin, "info", "--model", default_model, "--attention", LAYOUTS / "snapkv_25pct.json", "--json")
    assert out.returncode == 0, out.stderr
    attention = json.loads(out.stdout)["attention"]
    assert attention["layers"][7]["eviction"] == \
        {"policy": "snapkv", "budget_tokens": 2048, "sink_tokens": 0, "observation_window": 32, "pool_kernel": 7}
    # fp16 K + V and a position and a score per KV head, 30 layers.
    assert attention["cache_groups"] == [
        {"kind": "evicting_kv", "layers": "0-29", "token_budget": 2048, "bytes_per_token": 30 * (768 + 24)}]
    text = run(strata_bin, "info", "--model", default_model, "--attention", LAYOUTS / "h2o_25pct.json").stdout
    assert "layers 0-29: trained full; evict, h2o budget 2048, 4 sinks, recent 1024; cache group 0 (evicting_kv)" in text


def test_info_shows_the_linear_layers_of_a_hybrid_model(strata_bin):
    model = ROOT / "tests" / "golden" / "hybrid" / "qwen3next-tiny.gguf"
    out = run(strata_bin, "info", "--model", model)
    assert out.returncode == 0, out.stderr
    assert "1 global (rope base 10000), 3 linear (gated delta rule)" in out.stdout
    assert "layers 0-2: trained linear; linear; cache group 1 (recurrent_state)" in out.stdout
    assert "layers 3: trained full; full; cache group 0 (paged_kv)" in out.stdout
    info = json.loads(run(strata_bin, "info", "--model", model, "--json").stdout)
    assert info["architecture"] == "qwen3next"
    assert [layer["trained_as"] for layer in info["attention"]["layers"]] == ["linear"] * 3 + ["full"]
    assert info["attention"]["cache_groups"][1] == {"kind": "recurrent_state", "layers": "0-2",
                                                     "bytes_per_sequence": 3 * 4 * (4 * 16 * 16 + 3 * 128)}
    refused = run(strata_bin, "info", "--model", model, "--attention", LAYOUTS / "sink_window_25pct.json")
    assert refused.returncode != 0
    assert "layer 0 is trained as linear attention" in refused.stderr
    # Random weights: the text is any bytes, not UTF-8.
    generated = subprocess.run([str(strata_bin), "generate", "--model", str(model), "--prompt", "the sea",
                                "--max-tokens", "8", "--temperature", "0", "--threads", "2"], capture_output=True,
                               timeout=120)
    assert generated.returncode == 0, generated.stderr
    assert b"generated 8 tokens" in generated.stderr
def test_info_shows_block_topk(strata_bin, default_model):
    out = run(strata_bin, "info", "--model", default_model, "--attention", LAYOUTS / "block_topk_8th.json", "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    layers = info["attention"]["layers"]
    assert layers[2] == {"layer": 2, "trained_as": "full", "backend": "block_topk", "rule": "2-29",
                         "page_fraction": 0.125, "sink_pages": 1, "recent_pages": 1, "cache_group": 0}
    # One paged group with the full layers; the 28 scoring layers' key bounds cost 768 bytes a block each.
    assert info["attention"]["cache_groups"] == [
        {"kind": "paged_kv", "layers": "0-29", "bytes_per_token": 30 * 768, "bytes_per_page": 28 * 768}]
    assert info["kv_bytes_at_context"]["fraction"] == pytest.approx(1 + 28 * 48 / (30 * 768))
    text = run(strata_bin, "info", "--model", default_model, "--attention", LAYOUTS / "block_topk_8th.json").stdout
    assert "layers 2-29: trained full; block_topk, 0.125 of the pages (1 sink, 1 recent); cache group 0 (paged_kv)" in text


def test_generate_runs_a_layout(strata_bin, default_model):
    out = run(strata_bin, "generate", "--model", default_model, "--prompt", "Once upon a time", "--max-tokens", "6",
              "--temperature", "0", "--threads", "2", "--attention", LAYOUTS / "sink_window_25pct.json")
    assert out.returncode == 0, out.stderr
    # Shorter than the window: the same text as without a layout.
    plain = run(strata_bin, "generate", "--model", default_model, "--prompt", "Once upon a time", "--max-tokens", "6",
                "--temperature", "0", "--threads", "2")
    assert out.stdout == plain.stdout


@pytest.mark.parametrize("layout, reason", [
    ({"layers": {"*": {"backend": "flash"}}},
     "layers '*': unknown backend 'flash' (available: full, sink_window, block_topk, linear, evict)"),
    ({"layers": {"0-30": {"backend": "full"}}}, "layer 30, out of bounds (the model has 30 layers: 0-29)"),
    ({"layers": {"2-29": {"backend": "evict", "policy": "h2o"}}},
     "layers '2-29': evict needs exactly one of budget_tokens and budget_fraction"),
    ({"layers": {"3": {"backend": "linear"}}}, "layer 3 is trained as full attention; backend 'linear' runs only on layers"),
    ({"layers": {"*": {"backend": "sink_window", "window": 8}}}, "unknown parameter 'window' of backend 'sink_window'"),
    ({"layers": {"0-9": {"backend": "full"}, "5-9": {"backend": "sink_window", "window_tokens": 8}}},
     "layer 5 is claimed by ranges '0-9' (full) and '5-9' (sink_window)"),
    ({"layers": {"2-29": {"backend": "block_topk", "top_pages": 4, "reuse_selection_of": 1}}},
     "layers '2-29': layer 2 cannot reuse the page selection of layer 1, which runs full, not block_topk"),
])
@pytest.mark.parametrize("command", ["info", "generate", "serve", "eval"])
def test_bad_layouts_are_refused_at_start_up(strata_bin, default_model, tmp_path, layout, reason, command):
    path = tmp_path / "layout.json"
    path.write_text(json.dumps(layout))
    extra = {"info": [], "generate": ["--prompt", "hi"], "serve": ["--port", "0", "--grpc-port", "0"],
             "eval": ["--contexts", "128", "--tasks", "forced"]}[command]
    out = run(strata_bin, command, "--model", default_model, "--attention", path, *extra, timeout=60)
    assert out.returncode != 0
    assert reason in out.stderr, out.stderr
