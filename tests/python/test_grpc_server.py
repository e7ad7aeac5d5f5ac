"""The gRPC front end with a grpcio client built from proto/: generation (streaming, equal to the
HTTP text for the same greedy request), tokenize/detokenize, model info, health, reflection,
cancellation and deadlines, invalid arguments."""
import json
import sys
import threading
import time
import urllib.request

import grpc
import pytest

from conftest import ROOT, StrataServer


class BearerKey(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds the API key the way the server expects it: metadata authorization: Bearer <key>."""

    def __init__(self, key):
        self.key = key

    def _with_key(self, details):
        metadata = list(details.metadata or []) + [("authorization", f"Bearer {self.key}")]
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_key(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_key(details), request)


@pytest.fixture(scope="module")
def pb():
    sys.path.insert(0, str(ROOT / "tests/load"))
    import strata_grpc_stubs
    return strata_grpc_stubs.load()


@pytest.fixture(scope="module")
def stub(pb, strata_server):
    channel = grpc.insecure_channel(f"127.0.0.1:{strata_server.grpc_port}")
    grpc.channel_ready_future(channel).result(timeout=30)
    yield pb[1].InferenceStub(grpc.intercept_channel(channel, BearerKey(strata_server.api_key)))
    channel.close()


def generate(pb, stub, **fields):
    responses = list(stub.Generate(pb[0].GenerateRequest(**fields), timeout=120))
    text = {}
    finish, usage = {}, None
    for r in responses:
        text[r.index] = text.get(r.index, "") + r.text
        if r.finish_reason:
            finish[r.index] = r.finish_reason
        if r.HasField("usage"):
            usage = r.usage
    return text, finish, usage, responses


def test_greedy_generation_equals_the_http_text(pb, stub, strata_server):
    server = strata_server
    prompt = "The three primary colours are"
    text, finish, usage, responses = generate(pb, stub, text=prompt, max_tokens=16,
                                              sampling=pb[0].SamplingParams(temperature=0.0))
    assert finish == {0: pb[0].FINISH_REASON_LENGTH}
    assert usage.completion_tokens == 16 and usage.prompt_tokens > 0
    assert sum(len(r.token_ids) for r in responses) == 16
    body = json.dumps({"model": server.model_name, "prompt": prompt, "max_tokens": 16, "temperature": 0}).encode()
    request = urllib.request.Request(f"{server.url}/v1/completions", data=body,
                                     headers={"Content-Type": "application/json", **server.headers})
    with urllib.request.urlopen(request, timeout=120) as response:
        http_text = json.loads(response.read())["choices"][0]["text"]
    assert text[0] == http_text


def test_n_logprobs_token_ids_and_stop(pb, stub):
    text, finish, usage, responses = generate(
        pb, stub, token_ids=pb[0].TokenIds(ids=[504, 3575, 282, 4649, 314]), max_tokens=6, n=2, logprobs=2,
        sampling=pb[0].SamplingParams(temperature=1.0, seed=11))
    assert set(finish) == {0, 1}
    assert usage.completion_tokens <= 12
    for r in responses:
        assert len(r.logprobs) == len(r.token_ids)
        for step in r.logprobs:
            assert len(step.top) == 2 and step.chosen.logprob <= 0.0
    again, _, _, _ = generate(pb, stub, token_ids=pb[0].TokenIds(ids=[504, 3575, 282, 4649, 314]), max_tokens=6, n=2,
                              sampling=pb[0].SamplingParams(temperature=1.0, seed=11))
    assert again == text  # seeded sampling is reproducible
    stopped, finish, _, _ = generate(pb, stub, text="Count: 1, 2, 3,", max_tokens=32, stop=["6"],
                                     sampling=pb[0].SamplingParams(temperature=0.0))
    assert "6" not in stopped[0] and finish[0] == pb[0].FINISH_REASON_STOP


def test_tokenize_detokenize_and_model_info(pb, stub):
    ids = stub.Tokenize(pb[0].TokenizeRequest(text="Hello world")).token_ids
    assert list(ids) == [19556, 905]
    assert stub.Detokenize(pb[0].DetokenizeRequest(token_ids=ids)).text == "Hello world"
    info = stub.ModelInfo(pb[0].ModelInfoRequest())
    assert (info.architecture, info.num_layers, info.context_length) == ("llama", 30, 8192)
    assert len(info.layers) == 30 and all(layer.attention == "full" for layer in info.layers)
    assert info.kv_block_size == 16 and info.kv_blocks > 0


def test_invalid_arguments_and_unknown_ids(pb, stub):
    bad = [
        pb[0].GenerateRequest(),  # no prompt
        pb[0].GenerateRequest(text="hi", max_tokens=0),
        pb[0].GenerateRequest(text="hi", sampling=pb[0].SamplingParams(top_p=0.0)),
        pb[0].GenerateRequest(token_ids=pb[0].TokenIds(ids=[999999])),
        pb[0].GenerateRequest(text="hi", max_tokens=100000),
    ]
    for request in bad:
        with pytest.raises(grpc.RpcError) as error:
            list(stub.Generate(request, timeout=30))
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert error.value.details()
    with pytest.raises(grpc.RpcError) as error:
        stub.Detokenize(pb[0].DetokenizeRequest(token_ids=[-1]))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_health_and_reflection(strata_server):
    server = strata_server
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
    services = {s.name for answer in answers for s in answer.list_services_response.service}
    assert "strata.v1.Inference" in services and "grpc.health.v1.Health" in services
    channel.close()


def metric(server, name):
    request = urllib.request.Request(f"{server.url}/metrics", headers=server.headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def wait_until_idle(server):
    for _ in range(200):
        if metric(server, "vllm:num_requests_running") == 0 and metric(server, "vllm:kv_cache_usage_perc") == 0:
            return
        time.sleep(0.05)
    raise AssertionError("requests or KV blocks still held")


def aborted(server):
    request = urllib.request.Request(f"{server.url}/metrics", headers=server.headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("vllm:request_success_total{") and 'finished_reason="abort"' in line:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_cancellation_and_deadline_free_everything(pb, stub, strata_server):
    server = strata_server
    aborted_before = aborted(server)
    call = stub.Generate(pb[0].GenerateRequest(text="Once upon a time", max_tokens=2000, ignore_eos=True))
    first = next(call)
    assert first.index == 0
    threading.Timer(0.2, call.cancel).start()
    with pytest.raises(grpc.RpcError) as error:
        for _ in call:
            pass
    assert error.value.code() == grpc.StatusCode.CANCELLED
    wait_until_idle(server)
    with pytest.raises(grpc.RpcError) as error:
        list(stub.Generate(pb[0].GenerateRequest(text="Once upon a time", max_tokens=2000, ignore_eos=True), timeout=0.5))
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_until_idle(server)
    # Both ended requests are counted as aborted once their calls have wound down.
    for _ in range(200):
        if aborted(server) == aborted_before + 2:
            break
        time.sleep(0.05)
    assert aborted(server) == aborted_before + 2


def test_api_key_is_required_but_health_is_open(pb, strata_server):
    channel = grpc.insecure_channel(f"127.0.0.1:{strata_server.grpc_port}")
    for stub in (pb[1].InferenceStub(channel), pb[1].InferenceStub(grpc.intercept_channel(channel, BearerKey("wrong")))):
        with pytest.raises(grpc.RpcError) as error:
            stub.ModelInfo(pb[0].ModelInfoRequest(), timeout=10)
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as error:
            list(stub.Generate(pb[0].GenerateRequest(text="hi", max_tokens=2), timeout=10))
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    assert health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status == \
        health_pb2.HealthCheckResponse.SERVING
    channel.close()


def test_grpc_requests_count_in_the_metrics(pb, stub, strata_server):
    before = metric(strata_server, "vllm:time_to_first_token_seconds_count")
    generate(pb, stub, text="Metrics count this", max_tokens=3, sampling=pb[0].SamplingParams(temperature=0.0))
    assert metric(strata_server, "vllm:time_to_first_token_seconds_count") == before + 1


def test_full_waiting_queue_is_resource_exhausted(pb, strata_bin, default_model):
    server = StrataServer(strata_bin, default_model, "--max-waiting", "0")
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        stub = pb[1].InferenceStub(channel)
        with pytest.raises(grpc.RpcError) as error:
            list(stub.Generate(pb[0].GenerateRequest(text="hi", max_tokens=2), timeout=30))
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        channel.close()
    finally:
        assert server.stop() == 0
