"""`strata serve`: the official openai client against it, raw HTTP for the error paths,
disconnects, metrics, authentication, a full queue, and draining on SIGTERM."""
import json
import re
import signal
import socket
import subprocess
import time

import httpx
import openai
import pytest

from conftest import API_KEY, StrataServer

MODEL = "SmolLM2-135M-Instruct.Q4_1"  # the default served name of the default model
COUNTING = "1, 2, 3, 4,"  # greedy: " 5, 6, 7, 8, 9, ..."


@pytest.fixture(scope="module")
def client(strata_server):
    return openai.OpenAI(base_url=strata_server.url + "/v1", api_key=API_KEY, max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def http(strata_server):
    with httpx.Client(base_url=strata_server.url, headers=strata_server.headers, timeout=60) as c:
        yield c


def sse_events(lines):
    """The JSON payloads of an SSE stream up to `data: [DONE]` (asserted to come last)."""
    events = []
    for line in lines:
        if not line:
            continue
        assert line.startswith("data: "), line
        if line == "data: [DONE]":
            return events
        events.append(json.loads(line[len("data: "):]))
    raise AssertionError("the stream ended without data: [DONE]")


def metric(text, name):
    match = re.search(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", text, re.MULTILINE)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def generate_cli(strata_bin, model, prompt, max_tokens, *extra):
    out = subprocess.run([str(strata_bin), "generate", "--model", str(model), "--prompt", prompt, "--temperature", "0",
                          "--max-tokens", str(max_tokens), "--threads", "2", *extra],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout[:-1]  # generate ends its output with a newline


# ------------------------------------------------------------------------------------------------
# The openai client


def test_models_lists_the_served_model(client):
    assert [m.id for m in client.models.list().data] == [MODEL]
    assert client.models.retrieve(MODEL).id == MODEL


def test_greedy_completion_equals_strata_generate(client, http, strata_bin, default_model):
    prompt = "The capital of France is"
    response = client.completions.create(model=MODEL, prompt=prompt, max_tokens=16, temperature=0)
    choice = response.choices[0]
    assert choice.text == generate_cli(strata_bin, default_model, prompt, 16)
    assert choice.finish_reason == "length"
    assert response.id.startswith("cmpl-") and response.object == "text_completion" and response.model == MODEL
    prompt_tokens = http.post("/tokenize", json={"prompt": prompt}).json()["count"]
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (prompt_tokens, 16)
    assert response.usage.total_tokens == prompt_tokens + 16


def test_greedy_chat_equals_strata_generate_chat(client, http, strata_bin, default_model):
    question = "What is the capital of France?"
    messages = [{"role": "user", "content": question}]
    response = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=20, temperature=0)
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == generate_cli(strata_bin, default_model, question, 20, "--chat")
    assert response.id.startswith("chatcmpl-") and response.object == "chat.completion"
    assert response.usage.prompt_tokens == http.post("/tokenize", json={"messages": messages}).json()["count"]


def test_default_max_tokens_is_16_for_completions(client):
    response = client.completions.create(model=MODEL, prompt=COUNTING, temperature=0, extra_body={"ignore_eos": True})
    assert response.usage.completion_tokens == 16 and response.choices[0].finish_reason == "length"


def test_streamed_completion_concatenates_to_the_complete_one(client):
    whole = client.completions.create(model=MODEL, prompt=COUNTING, max_tokens=12, temperature=0)
    chunks = list(client.completions.create(model=MODEL, prompt=COUNTING, max_tokens=12, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    usage_chunk = chunks[-1]
    assert usage_chunk.choices == [] and usage_chunk.usage.completion_tokens == 12
    assert all(c.usage is None for c in chunks[:-1])
    assert "".join(c.choices[0].text for c in chunks[:-1]) == whole.choices[0].text
    assert chunks[-2].choices[0].finish_reason == "length"
    assert len({c.id for c in chunks}) == 1


def test_streamed_chat_sends_the_role_first_and_usage_only_when_asked(client):
    messages = [{"role": "user", "content": "Name a colour."}]
    whole = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=10, temperature=0)
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, max_tokens=10, temperature=0,
                                                 stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    with_usage = list(client.chat.completions.create(model=MODEL, messages=messages, max_tokens=10, temperature=0,
                                                     stream=True, stream_options={"include_usage": True}))
    assert with_usage[-1].choices == [] and with_usage[-1].usage.total_tokens == whole.usage.total_tokens


def test_n_2_gives_two_choices_streamed_or_not(client):
    response = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=6, n=2, seed=3,
                                         extra_body={"ignore_eos": True})
    assert sorted(c.index for c in response.choices) == [0, 1]
    assert response.usage.completion_tokens == 12
    chunks = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}],
                                                 max_tokens=6, n=2, stream=True))
    finished = {c.choices[0].index for c in chunks if c.choices[0].finish_reason}
    roles = {c.choices[0].index for c in chunks if c.choices[0].delta.role == "assistant"}
    assert finished == roles == {0, 1}


def test_a_seed_fixes_sampling_at_temperature_1(client):
    def sample(seed):
        return client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=12, temperature=1.0,
                                         seed=seed).choices[0].text

    assert sample(1234) == sample(1234)
    chat = [client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Tell me a story."}],
                                           max_tokens=12, temperature=1.0, seed=99).choices[0].message.content
            for _ in range(2)]
    assert chat[0] == chat[1]


def test_completion_logprobs(client):
    response = client.completions.create(model=MODEL, prompt=COUNTING, max_tokens=6, temperature=0, logprobs=3)
    lp = response.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 6
    assert "".join(lp.tokens) == response.choices[0].text
    for token_logprob, top in zip(lp.token_logprobs, lp.top_logprobs):
        assert token_logprob <= 0 and len(top) == 3
        assert max(top.values()) == pytest.approx(token_logprob)  # greedy takes the most likely token
    assert lp.text_offset[0] == 0 and lp.text_offset == sorted(lp.text_offset)


def test_chat_logprobs(client):
    response = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}],
                                              max_tokens=5, temperature=0, logprobs=True, top_logprobs=2)
    content = response.choices[0].logprobs.content
    assert 1 <= len(content) <= 5
    for entry in content:
        assert bytes(entry.bytes).decode(errors="replace") == entry.token
        assert len(entry.top_logprobs) == 2 and entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob
        assert entry.logprob == pytest.approx(entry.top_logprobs[0].logprob)


def test_stop_strings_end_the_text_before_them(client):
    whole = client.completions.create(model=MODEL, prompt=COUNTING, max_tokens=12, temperature=0).choices[0].text
    assert whole.startswith(" 5, 6, 7, 8,")
    response = client.completions.create(model=MODEL, prompt=COUNTING, max_tokens=12, temperature=0, stop=[" 7", "x"])
    assert response.choices[0].text == " 5, 6," and response.choices[0].finish_reason == "stop"
    streamed = client.completions.create(model=MODEL, prompt=COUNTING, max_tokens=12, temperature=0, stop="8",
                                         stream=True)
    assert "".join(c.choices[0].text for c in streamed) == " 5, 6, 7, "


def test_prompt_as_token_ids(client, http):
    ids = http.post("/tokenize", json={"prompt": COUNTING}).json()["tokens"]
    by_ids = client.completions.create(model=MODEL, prompt=ids, max_tokens=8, temperature=0)
    by_text = client.completions.create(model=MODEL, prompt=COUNTING, max_tokens=8, temperature=0)
    assert by_ids.choices[0].text == by_text.choices[0].text
    assert by_ids.usage.prompt_tokens == len(ids)


def test_logit_bias_forces_a_token(client, http):
    (the,) = http.post("/tokenize", json={"prompt": " the", "add_special_tokens": False}).json()["tokens"]
    response = client.completions.create(model=MODEL, prompt=COUNTING, max_tokens=3, temperature=0,
                                         logit_bias={str(the): 100})
    assert response.choices[0].text == " the the the"


def test_min_tokens_and_ignore_eos(client):
    messages = [{"role": "user", "content": "Reply with one word: yes or no?"}]
    short = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=40, temperature=0)
    assert short.choices[0].finish_reason == "stop" and short.usage.completion_tokens < 10
    longer = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=40, temperature=0,
                                            extra_body={"min_tokens": 10})
    assert longer.usage.completion_tokens >= 10
    endless = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=12, temperature=0,
                                             extra_body={"ignore_eos": True})
    assert endless.usage.completion_tokens == 12 and endless.choices[0].finish_reason == "length"


def test_accepted_extras(client):
    response = client.completions.create(model=MODEL, prompt="Hi", max_tokens=2, user="someone", top_p=0.9,
                                         presence_penalty=0.5, frequency_penalty=0.5,
                                         extra_body={"priority": 1, "top_k": 20, "min_p": 0.05,
                                                     "repetition_penalty": 1.1, "unknown_field": [1, {"a": 2}]})
    assert response.usage.completion_tokens >= 1


def test_control_characters_in_a_prompt_are_just_text(client):
    response = client.completions.create(model=MODEL, prompt="a\u0000b\u0007c\u001b", max_tokens=2)
    assert response.usage.prompt_tokens >= 3


def test_tokenize_and_detokenize(http, strata_bin, default_model):
    text = "Hello world, héllo wörld"
    cli = subprocess.run([str(strata_bin), "tokenize", "--model", str(default_model), "--text", text],
                         capture_output=True, text=True, timeout=60)
    body = http.post("/tokenize", json={"prompt": text}).json()
    assert body["tokens"] == json.loads(cli.stdout) and body["count"] == len(body["tokens"])
    assert body["max_model_len"] == 8192
    assert http.post("/detokenize", json={"tokens": body["tokens"]}).json() == {"prompt": text}


# ------------------------------------------------------------------------------------------------
# Bad input: each answered with its status and the OpenAI error shape; the server stays healthy

DEEP = b'{"prompt": "x", "a": ' + b"[" * 100 + b"]" * 100 + b"}"
VERY_DEEP = b"[" * 200_000 + b"]" * 200_000
COMPLETIONS, CHAT = "/v1/completions", "/v1/chat/completions"
USER = [{"role": "user", "content": "Hi"}]

BAD_REQUESTS = [
    # (name, method, path, body, status, param)
    ("malformed JSON", "POST", COMPLETIONS, b'{"prompt": "x",', 400, None),
    ("empty body", "POST", COMPLETIONS, b"", 400, None),
    ("body not an object", "POST", COMPLETIONS, b"[1, 2]", 400, None),
    ("invalid UTF-8", "POST", COMPLETIONS, b'{"prompt": "\xff\xfe"}', 400, None),
    ("lone surrogate", "POST", COMPLETIONS, b'{"prompt": "\\ud800"}', 400, None),
    ("raw control character", "POST", COMPLETIONS, b'{"prompt": "a\x01b"}', 400, None),
    ("deep nesting", "POST", COMPLETIONS, DEEP, 400, None),
    ("very deep nesting", "POST", COMPLETIONS, VERY_DEEP, 400, None),
    ("number overflow", "POST", COMPLETIONS, b'{"prompt": "x", "temperature": 1e400}', 400, None),
    ("missing prompt", "POST", COMPLETIONS, {"max_tokens": 2}, 400, "prompt"),
    ("prompt of wrong type", "POST", COMPLETIONS, {"prompt": {"text": "x"}}, 400, "prompt"),
    ("batched prompts", "POST", COMPLETIONS, {"prompt": ["a", "b"]}, 400, "prompt"),
    ("token id outside the vocabulary", "POST", COMPLETIONS, {"prompt": [1, 99999999]}, 400, "prompt"),
    ("max_tokens as a string", "POST", COMPLETIONS, {"prompt": "x", "max_tokens": "16"}, 400, "max_tokens"),
    ("negative max_tokens", "POST", COMPLETIONS, {"prompt": "x", "max_tokens": -5}, 400, "max_tokens"),
    ("huge max_tokens", "POST", COMPLETIONS, {"prompt": "x", "max_tokens": 2**63}, 400, "max_tokens"),
    ("enormous max_tokens", "POST", COMPLETIONS, {"prompt": "x", "max_tokens": 10**30}, 400, "max_tokens"),
    ("prompt plus max_tokens beyond the context", "POST", COMPLETIONS, {"prompt": "x", "max_tokens": 8192}, 400,
     "max_tokens"),
    ("prompt beyond the context", "POST", COMPLETIONS, {"prompt": list(range(1, 9000))}, 400, "prompt"),
    ("temperature too high", "POST", COMPLETIONS, {"prompt": "x", "temperature": 3}, 400, "temperature"),
    ("temperature as a string", "POST", COMPLETIONS, {"prompt": "x", "temperature": "hot"}, 400, "temperature"),
    ("top_p zero", "POST", COMPLETIONS, {"prompt": "x", "top_p": 0}, 400, "top_p"),
    ("negative top_k", "POST", COMPLETIONS, {"prompt": "x", "top_k": -7}, 400, "top_k"),
    ("n zero", "POST", COMPLETIONS, {"prompt": "x", "n": 0}, 400, "n"),
    ("n huge", "POST", COMPLETIONS, {"prompt": "x", "n": 100000}, 400, "n"),
    ("logprobs too many", "POST", COMPLETIONS, {"prompt": "x", "logprobs": 50}, 400, "logprobs"),
    ("stop of wrong type", "POST", COMPLETIONS, {"prompt": "x", "stop": 7}, 400, "stop"),
    ("empty stop string", "POST", COMPLETIONS, {"prompt": "x", "stop": [""]}, 400, "stop"),
    ("seed as a string", "POST", COMPLETIONS, {"prompt": "x", "seed": "abc"}, 400, "seed"),
    ("penalty out of range", "POST", COMPLETIONS, {"prompt": "x", "presence_penalty": -2.5}, 400, "presence_penalty"),
    ("logit_bias key not a token", "POST", COMPLETIONS, {"prompt": "x", "logit_bias": {"abc": 1}}, 400, "logit_bias"),
    ("logit_bias value too big", "POST", COMPLETIONS, {"prompt": "x", "logit_bias": {"5": 1000}}, 400, "logit_bias"),
    ("ignore_eos not a boolean", "POST", COMPLETIONS, {"prompt": "x", "ignore_eos": "yes"}, 400, "ignore_eos"),
    ("min_tokens above max_tokens", "POST", COMPLETIONS, {"prompt": "x", "max_tokens": 2, "min_tokens": 5}, 400,
     "min_tokens"),
    ("stream_options without stream", "POST", COMPLETIONS,
     {"prompt": "x", "stream_options": {"include_usage": True}}, 400, "stream_options"),
    ("missing messages", "POST", CHAT, {"max_tokens": 2}, 400, "messages"),
    ("messages not an array", "POST", CHAT, {"messages": "Hi"}, 400, "messages"),
    ("message without a role", "POST", CHAT, {"messages": [{"content": "Hi"}]}, 400, "messages"),
    ("image content part", "POST", CHAT,
     {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, 400, "messages"),
    ("top_logprobs without logprobs", "POST", CHAT, {"messages": USER, "top_logprobs": 2}, 400, "top_logprobs"),
    ("negative max_completion_tokens", "POST", CHAT, {"messages": USER, "max_completion_tokens": -1}, 400,
     "max_completion_tokens"),
    ("detokenize a bad id", "POST", "/detokenize", {"tokens": [-1]}, 400, "tokens"),
    ("model of wrong type", "POST", COMPLETIONS, {"model": 5, "prompt": "x"}, 400, "model"),
    ("unknown model", "POST", COMPLETIONS, {"model": "gpt-4", "prompt": "x"}, 404, "model"),
    ("unknown model by path", "GET", "/v1/models/gpt-4", None, 404, "model"),
    ("unknown path", "GET", "/v1/engines", None, 404, None),
    ("wrong method", "GET", COMPLETIONS, None, 405, None),
    ("wrong method on health", "POST", "/health", b"{}", 405, None),
    ("body over the limit", "POST", COMPLETIONS, b'{"prompt": "' + b"a" * (9 << 20) + b'"}', 413, None),
]


@pytest.mark.parametrize("name, method, path, body, status, param", BAD_REQUESTS, ids=[r[0] for r in BAD_REQUESTS])
def test_bad_request_is_answered_in_the_openai_error_shape(http, name, method, path, body, status, param):
    if isinstance(body, dict):
        response = http.request(method, path, json=body)
    else:
        response = http.request(method, path, content=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and "code" in error
    assert error["param"] == param
    if status == 405:
        assert response.headers["allow"] in ("GET", "POST")
    assert http.get("/health").status_code == 200


def test_malformed_http_is_400_and_the_server_stays_healthy(strata_server, http):
    with socket.create_connection(("127.0.0.1", strata_server.port), timeout=10) as s:
        s.sendall(b"GARBAGE\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 400")
    assert http.get("/health").status_code == 200


# ------------------------------------------------------------------------------------------------
# Disconnects, metrics, authentication


def wait_until_idle(http, timeout=30):
    """Polls /metrics until no request runs and no KV block is held; returns the last scrape."""
    deadline = time.monotonic() + timeout
    while True:
        text = http.get("/metrics").text
        if metric(text, "vllm:num_requests_running") == 0 and metric(text, "vllm:kv_cache_usage_perc") == 0:
            return text
        assert time.monotonic() < deadline, text
        time.sleep(0.05)


def abort_count(text):
    return float(re.search(r'^vllm:request_success_total\{[^}]*finished_reason="abort"\} (\S+)$', text,
                           re.MULTILINE).group(1))


@pytest.mark.parametrize("stream", [True, False], ids=["streaming", "waiting"])
def test_a_client_that_disconnects_cancels_its_request(strata_server, http, stream):
    aborted_before = abort_count(wait_until_idle(http))
    body = {"prompt": "Once upon a time", "max_tokens": 2000, "ignore_eos": True, "stream": stream}
    with httpx.Client(base_url=strata_server.url, headers=strata_server.headers) as own:
        if stream:
            with own.stream("POST", COMPLETIONS, json=body, timeout=60) as response:
                lines = response.iter_lines()
                assert next(lines).startswith("data: ")  # it runs
        else:
            with pytest.raises(httpx.ReadTimeout):
                own.post(COMPLETIONS, json=body, timeout=0.5)
    # Idle (nothing running, no KV held) can be scraped a moment before the aborted request's
    # final event is counted: wait for the count too.
    deadline = time.monotonic() + 30
    while abort_count(wait_until_idle(http)) < aborted_before + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert abort_count(wait_until_idle(http)) == aborted_before + 1
    assert http.get("/health").status_code == 200


def test_metrics_are_valid_prometheus_text(client, http):
    client.completions.create(model=MODEL, prompt="Hi", max_tokens=3)
    text = http.get("/metrics", headers={"Authorization": ""}).text
    declared = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            declared[name] = kind
            continue
        name = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", line).group(1)
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in declared else name
        assert family in declared, f"{name} has no # TYPE"
    for name in ["vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:gpu_cache_usage_perc",
                 "vllm:kv_cache_usage_perc", "strata:kv_cache_block_size", "strata:kv_cache_num_blocks"]:
        assert declared[name] == "gauge"
    for name in ["vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:request_success_total",
                 "vllm:num_preemptions_total", "vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total"]:
        assert declared[name] == "counter"
    for name in ["vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
                 "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds"]:
        assert declared[name] == "histogram"
        buckets = [(m.group(1), float(m.group(2))) for m in
                   re.finditer(rf'^{re.escape(name)}_bucket\{{[^}}]*le="([^"]+)"\}} (\S+)$', text, re.MULTILINE)]
        counts = [c for _, c in buckets]
        assert buckets[-1][0] == "+Inf" and counts == sorted(counts)
        assert counts[-1] == metric(text, name + "_count") >= 1
    assert metric(text, "strata:kv_cache_block_size") == 16
    assert metric(text, "vllm:prompt_tokens_total") >= 1 and metric(text, "vllm:generation_tokens_total") >= 3


def test_api_key(strata_server):
    url = strata_server.url
    assert httpx.get(url + "/v1/models").status_code == 401
    wrong = httpx.get(url + "/v1/models", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert httpx.post(url + COMPLETIONS, json={"prompt": "x"}).status_code == 401
    assert httpx.get(url + "/v1/models", headers=strata_server.headers).status_code == 200
    assert httpx.get(url + "/health").status_code == 200
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url + "/v1", api_key="nope", max_retries=0).models.list()


# ------------------------------------------------------------------------------------------------
# Servers of their own: a full queue, draining


def test_full_waiting_queue_is_429_with_retry_after(strata_bin, default_model):
    server = StrataServer(strata_bin, default_model, "--max-waiting", "0")
    try:
        response = httpx.post(server.url + COMPLETIONS, json={"prompt": "x", "max_tokens": 2}, timeout=30)
        assert response.status_code == 429 and response.headers["retry-after"] == "1"
        assert response.json()["error"]["type"] == "rate_limit_error"
        with pytest.raises(openai.RateLimitError):
            openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0).completions.create(
                model=MODEL, prompt="x", max_tokens=2)
        assert httpx.get(server.url + "/health").status_code == 200
    finally:
        assert server.stop() == 0, server.log_text()


def test_sigterm_drains_then_exits_0(strata_bin, default_model):
    server = StrataServer(strata_bin, default_model, "--shutdown-grace-seconds", "30", kv_cache_mib=256)
    url = server.url
    with httpx.Client(base_url=url, timeout=60) as a, httpx.Client(base_url=url, timeout=60) as b:
        endless = {"prompt": "Once upon a time", "max_tokens": 8000, "ignore_eos": True, "stream": True}
        short = {"prompt": COUNTING, "max_tokens": 16, "ignore_eos": True, "stream": True}
        with a.stream("POST", COMPLETIONS, json=endless) as long_stream, \
                b.stream("POST", COMPLETIONS, json=short) as short_stream:
            long_lines, short_lines = long_stream.iter_lines(), short_stream.iter_lines()
            assert next(long_lines).startswith("data: ") and next(short_lines).startswith("data: ")
            server.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 30
            while httpx.get(url + "/health").status_code != 503:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            refused = httpx.post(url + COMPLETIONS, json={"prompt": "x"})
            assert refused.status_code == 503 and refused.json()["error"]["code"] == "draining"
            # A request running at the signal finishes normally within the grace period...
            assert sse_events(short_lines)[-1]["choices"][0]["finish_reason"] == "length"
            # ...and a second signal cancels what still runs.
            server.proc.send_signal(signal.SIGTERM)
            assert sse_events(long_lines)[-1]["choices"][0]["finish_reason"] == "abort"
    assert server.proc.wait(timeout=60) == 0, server.log_text()
