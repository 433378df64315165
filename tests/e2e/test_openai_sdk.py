"""The official `openai` SDK (sync, async, streaming) and LangChain's ChatOpenAI against a real `dayshift serve`.

The server answers with the bundled local reader over the demo corpus; keys and tenants are the
service's own: a default-tenant key, an acme key (acme has its own documents), and the admin key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

openai = pytest.importorskip("openai", reason='needs the openai SDK: pip install -e ".[dev]"')

from cli_runner import run  # noqa: E402

from dayshift.cli.demo import corpus_dir  # noqa: E402
from dayshift.testing.serve_process import ServeProcess  # noqa: E402

ADMIN = "dsk_admin_for_the_sdk_tests_0123456789"
ASKED = "Which file formats can be ingested?"
UNKNOWN = "What is the boiling point of tungsten in kelvin?"
MODEL = "dayshift-answer@production"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, str, str]]:
    data_dir = tmp_path_factory.mktemp("sdk")
    assert run(data_dir, "ingest", str(corpus_dir())).returncode == 0
    acme_docs = data_dir / "acme-docs"
    acme_docs.mkdir()
    (acme_docs / "widgets.md").write_text("# Widgets\n\nThe acme widget ships in teal and costs 12 dollars.\n")
    assert run(data_dir, "--tenant", "acme", "ingest", str(acme_docs)).returncode == 0
    keys = []
    for tenant in ("default", "acme"):
        done = run(data_dir, "keys", "create", "--tenant", tenant)
        assert done.returncode == 0, done.stderr
        keys.append(next(w for w in done.stdout.split() if w.startswith("dsk_")))
    with ServeProcess(data_dir, env={"DAYSHIFT_SERVICE__ADMIN_KEY": ADMIN}) as process:
        yield process, keys[0], keys[1]


@pytest.fixture(scope="module")
def client(server: tuple[ServeProcess, str, str]) -> openai.OpenAI:
    process, key, _ = server
    return openai.OpenAI(base_url=f"{process.url}/v1", api_key=key, max_retries=0, timeout=300)


def test_models_are_the_prompt_versions(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list().data]
    assert "dayshift-answer" in ids and MODEL in ids
    assert any(i.startswith("dayshift-answer@v") for i in ids)
    card = next(m for m in client.models.list().data if m.id == MODEL)
    assert card.owned_by == "dayshift" and card.model_extra["dayshift"]["prompt"].startswith("answer@v")


def test_a_completion_carries_its_citations_in_the_text_and_the_extension(client: openai.OpenAI) -> None:
    done = client.chat.completions.create(model=MODEL, messages=[
        {"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": ASKED}])
    choice = done.choices[0]
    ext = done.model_extra["dayshift"]
    assert choice.message.role == "assistant" and choice.message.content == ext["answer"]
    assert done.id == f"chatcmpl-{ext['trace_id']}" and done.model == MODEL
    assert ext["prompt"].startswith("answer@v") and 0.0 <= ext["confidence"] <= 1.0
    if ext["abstained"]:
        pytest.fail(f"the demo corpus answers this question; it abstained: {ext['reason']}")
    assert ext["citations"] and all(f"[{c['n']}]" in choice.message.content for c in ext["citations"])
    assert ext["citations"][0]["chunk"]["source"].endswith(".md")
    assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens


def test_i_dont_know_is_an_ordinary_assistant_message(client: openai.OpenAI) -> None:
    done = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": UNKNOWN}])
    ext = done.model_extra["dayshift"]
    assert ext["abstained"] and done.choices[0].finish_reason == "stop"
    assert done.choices[0].message.content.startswith("I don't know.")
    assert f"(confidence {ext['confidence']:.2f})" in done.choices[0].message.content
    assert ext["citations"] == []


def test_streaming_with_usage(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": ASKED}])
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": ASKED}], stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[0].choices[0].delta.role == "assistant"
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    assert final.choices[0].finish_reason == "stop" and final.model_extra["dayshift"]["answer"]
    assert text == whole.choices[0].message.content  # the same answer, streamed (temperature 0)
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == whole.usage.total_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_the_async_client_and_its_stream(server: tuple[ServeProcess, str, str]) -> None:
    process, key, _ = server

    async def both() -> tuple[str, str]:
        async with openai.AsyncOpenAI(base_url=f"{process.url}/v1", api_key=key, max_retries=0, timeout=300) as aio:
            done = await aio.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": ASKED}])
            stream = await aio.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": ASKED}],
                                                       stream=True)
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
            return done.choices[0].message.content, "".join(parts)

    whole, streamed = asyncio.run(both())
    assert whole and streamed == whole


def test_keys_and_tenants_apply(server: tuple[ServeProcess, str, str]) -> None:
    process, _, acme_key = server
    acme = openai.OpenAI(base_url=f"{process.url}/v1", api_key=acme_key, max_retries=0, timeout=300)
    done = acme.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "What colour is the acme "
                                                                "widget, and what does it cost?"}])
    sources = {Path(c["chunk"]["source"]).name for c in done.model_extra["dayshift"]["citations"]}
    assert sources <= {"widgets.md"}
    admin = openai.OpenAI(base_url=f"{process.url}/v1", api_key=ADMIN, max_retries=0, timeout=300,
                          default_headers={"X-Dayshift-Tenant": "acme"})
    trace_id = done.model_extra["dayshift"]["trace_id"]
    trace = httpx.get(f"{process.url}/v1/traces/{trace_id}", headers={"Authorization": f"Bearer {ADMIN}"}).json()
    assert trace["tenant"] == "acme" and trace["route"] == "/v1/chat/completions"
    assert trace["detail"]["retrieval"]["chunks"] and trace["params"]["model"] == MODEL
    assert {Path(r["doc_id"]).name for r in trace["retrieved"]} == {"widgets.md"}  # acme's documents only
    assert admin.models.list().data
    bad = openai.OpenAI(base_url=f"{process.url}/v1", api_key="dsk_nobody", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": ASKED}])
    assert "unknown or revoked API key" in caught.value.message


def test_errors_come_back_in_openai_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="not a dayshift model"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": ASKED}])
    with pytest.raises(openai.BadRequestError, match="last message must be the user's question"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "assistant", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="tools"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": ASKED}], tools=[
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])


def test_langchain_chat_openai_pointed_at_dayshift(server: tuple[ServeProcess, str, str],
                                                   client: openai.OpenAI) -> None:
    lc_openai = pytest.importorskip("langchain_openai", reason='needs langchain-openai: pip install -e ".[dev]"')
    process, key, _ = server
    chat = lc_openai.ChatOpenAI(base_url=f"{process.url}/v1", api_key=key, model=MODEL, max_retries=0, timeout=300)
    reply = chat.invoke(ASKED)
    expected = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": ASKED}])
    assert reply.content == expected.choices[0].message.content
    assert "".join(str(piece.content) for piece in chat.stream(ASKED)) == reply.content


def test_where_filters_travel_in_the_extension(client: openai.OpenAI) -> None:
    done = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": ASKED}],
                                          extra_body={"dayshift": {"where": ["source=nowhere"]}})
    assert done.model_extra["dayshift"]["abstained"] and not done.model_extra["dayshift"]["citations"]
    with pytest.raises(openai.BadRequestError, match="filter"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": ASKED}],
                                       extra_body={"dayshift": {"where": ["not a filter"]}})

