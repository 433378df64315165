"""Clients handed to the code rather than built beside the call, other providers' SDKs, and the
shapes that hide a call: a function run by a helper, a variable bound to a different class in
each branch, a retry that only re-asks on bad output."""

from review_snippets import found, found_in, messages_in

FACTORY = """
    import os
    import openai

    async def create_chat_client() -> openai.AsyncOpenAI:
        if os.getenv("HOST") == "azure":
            client = openai.AsyncOpenAI(base_url=os.environ["AZURE_ENDPOINT"], api_key=os.environ["KEY"])
        else:
            client = openai.AsyncOpenAI(api_key=os.getenv("OPENAI_KEY"))
        return client
"""
ROUTES = """
    from fastapi import APIRouter, Request
    from openai import AsyncOpenAI

    router = APIRouter()

    async def answer(question: str, client: AsyncOpenAI) -> str:
        reply = await client.chat.completions.create(
            model="gpt-4o", max_tokens=300, messages=[{"role": "user", "content": question}])
        return reply.choices[0].message.content

    @router.post("/chat")
    async def chat(request: Request, body: dict):
        return await answer(body["question"], request.state.chat_client)
"""


def test_a_typed_client_is_checked_as_the_clients_of_its_type_the_project_builds():
    got = found_in({"app/clients.py": FACTORY, "app/routes.py": ROUTES}, select=("DS101", "DS201", "DS401"))
    assert got == [("app/routes.py", "DS101", 8), ("app/routes.py", "DS201", 8), ("app/routes.py", "DS401", 8)]
    message = next(m for m in messages_in({"app/clients.py": FACTORY, "app/routes.py": ROUTES}, select=("DS101",)))
    assert "typed, so taken to be one this project builds" in message and "app/clients.py" in message


def test_the_projects_clients_with_a_timeout_and_retries_clear_the_typed_call():
    bounded = FACTORY.replace('api_key=os.getenv("OPENAI_KEY"))', 'api_key=os.getenv("OPENAI_KEY"), timeout=20, '
                                                                  'max_retries=3)')
    bounded = bounded.replace('api_key=os.environ["KEY"])', 'api_key=os.environ["KEY"], timeout=20, max_retries=3)')
    got = found_in({"app/clients.py": bounded, "app/routes.py": ROUTES}, select=("DS101", "DS201", "DS401"))
    assert got == [("app/routes.py", "DS401", 8)]  # the user's question still goes out


def test_a_typed_client_the_project_never_builds_decides_nothing_about_timeouts():
    got = found_in({"app/routes.py": ROUTES}, select=("DS101", "DS201", "DS401"))
    assert got == [("app/routes.py", "DS401", 8)]


def test_an_agents_sdk_agent_kept_on_self_is_checked_against_the_client_its_model_holds():
    flow = """
        from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner
        from fastapi import FastAPI
        from openai import AsyncOpenAI

        app = FastAPI()

        class Chat:
            def __init__(self, client: AsyncOpenAI, model: str):
                agents_model = OpenAIResponsesModel(model=model, openai_client=client)
                self.agent = Agent(name="a", model=agents_model, model_settings=ModelSettings(max_tokens=200))

            async def answer(self, messages):
                return await Runner.run(self.agent, input=messages)

        @app.post("/chat")
        async def chat(body: dict):
            return await Chat(AsyncOpenAI(), "gpt-4o").answer(body["messages"])
    """
    assert found(flow, select=("DS101", "DS201")) == [("DS101", 14), ("DS201", 14)]


def test_a_variable_bound_to_a_different_class_in_each_branch_reaches_both_methods():
    flow = """
        from fastapi import FastAPI
        from openai import OpenAI

        app = FastAPI()
        client = OpenAI(timeout=30)

        class Simple:
            def answer(self, q):
                return client.chat.completions.create(model="m", max_tokens=50, messages=q)

        class Advanced:
            def answer(self, q):
                return client.chat.completions.create(model="m", max_tokens=50, messages=q)

        @app.post("/chat")
        def chat(body: dict):
            if body.get("advanced"):
                flow = Advanced()
            else:
                flow = Simple()
            return flow.answer(body["q"])
    """
    assert found(flow, select=("DS201",)) == [("DS201", 10), ("DS201", 14)]


def test_an_embedding_on_a_request_path_needs_a_retry_too():
    flow = """
        from fastapi import FastAPI
        from openai import OpenAI

        app = FastAPI()
        client = OpenAI(timeout=30)
        patient = OpenAI(timeout=30, max_retries=4)

        @app.get("/search")
        def search(q: str):
            vector = client.embeddings.create(model="text-embedding-3-small", input=q).data[0].embedding
            again = patient.embeddings.create(model="text-embedding-3-small", input=q).data[0].embedding
            return vector, again
    """
    assert found(flow, select=("DS201",)) == [("DS201", 11)]


def test_a_retry_that_only_re_asks_on_bad_output_is_no_retry_of_the_call():
    flow = """
        import json

        import openai
        from fastapi import FastAPI
        from tenacity import retry, retry_if_exception_type, stop_after_attempt

        app = FastAPI()
        client = openai.OpenAI(timeout=30)

        @retry(stop=stop_after_attempt(3), retry=retry_if_exception_type((json.JSONDecodeError, ValueError)))
        def parsed(q):
            text = client.chat.completions.create(model="m", max_tokens=50, messages=q).choices[0].message.content
            return json.loads(text)

        @retry(stop=stop_after_attempt(3), retry=retry_if_exception_type((openai.RateLimitError, json.JSONDecodeError)))
        def patient(q):
            text = client.chat.completions.create(model="m", max_tokens=50, messages=q).choices[0].message.content
            return json.loads(text)

        @app.post("/a")
        def a(body: dict):
            return parsed(body["q"]), patient(body["q"])
    """
    assert found(flow, select=("DS201",)) == [("DS201", 13)]


def test_a_call_run_by_a_thread_helper_is_the_call_it_runs():
    flow = """
        import asyncio

        from asgiref.sync import sync_to_async
        from fastapi import FastAPI
        from openai import OpenAI

        app = FastAPI()
        client = OpenAI()

        @app.post("/a")
        async def a(body: dict):
            first = await asyncio.to_thread(client.chat.completions.create, model="m", max_tokens=50,
                                            messages=body["messages"])
            create = sync_to_async(client.chat.completions.create, thread_sensitive=True)
            second = await create(model="m", max_tokens=50, messages=body["messages"])
            return first, second
    """
    got = found(flow, select=("DS101", "DS401"))
    assert got == [("DS101", 13), ("DS101", 16), ("DS401", 13), ("DS401", 16)]


def test_other_providers_sdks_are_model_calls_for_the_data_flow_rules_only():
    flow = """
        import cohere
        from fastapi import FastAPI
        from g4f.client import Client
        from groq import Groq
        from mistralai import Mistral

        app = FastAPI()
        groq = Groq()
        free = Client()
        mistral = Mistral(api_key="x")
        co = cohere.ClientV2()

        def ask(client: Groq, prompt: str) -> str:
            reply = client.chat.completions.create(model="llama-3.1-8b-instant",
                                                   messages=[{"role": "user", "content": prompt}])
            return reply.choices[0].message.content

        @app.post("/a")
        def a(body: dict):
            ask(groq, body["q"])
            free.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": body["q"]}])
            mistral.chat.complete(model="mistral-small-latest", messages=[{"role": "user", "content": body["q"]}])
            co.rerank(model="rerank-v3.5", query=body["q"], documents=["a", "b"])
            mistral.models.list()  # not a model call
    """
    got = found(flow, select=("DS101", "DS201", "DS401", "DS602", "DS701"))
    assert got == [("DS401", 15), ("DS401", 22), ("DS401", 23), ("DS401", 24)]


def test_mem0_sends_the_messages_and_the_query_but_not_the_user_id():
    flow = """
        import streamlit as st
        from mem0 import Memory

        memory = Memory()
        local = Memory.from_config({"llm": {"provider": "ollama", "config": {"model": "llama3.1"}},
                                    "embedder": {"provider": "ollama", "config": {"model": "nomic-embed-text"}},
                                    "vector_store": {"provider": "qdrant", "config": {"host": "localhost"}}})

        customer = st.text_input("Customer ID")
        question = st.chat_input("Ask")
        memory.search(query=question, user_id=customer)
        memory.add("The customer asked about shipping.", user_id=customer)
        local.add(question, user_id=customer)
        memory.add(question, user_id="support")
    """
    assert found(flow, select=("DS401",)) == [("DS401", 12), ("DS401", 15)]


def test_a_runnable_handed_in_is_a_chain_over_the_projects_chat_models():
    llms = """
        from langchain_openai import ChatOpenAI

        def get_llm():
            return ChatOpenAI(model="gpt-4o-mini", timeout=30, max_tokens=500)
    """
    stream = """
        from langchain_core.runnables import Runnable

        async def astream_state(app: Runnable, input, config):
            async for event in app.astream_events(input, config, version="v1"):
                yield event
    """
    routes = """
        from fastapi import APIRouter

        from app.stream import astream_state

        router = APIRouter()

        @router.post("/runs/stream")
        async def stream_run(payload: dict):
            return astream_state(payload["agent"], payload["input"], {})
    """
    got = found_in({"app/llms.py": llms, "app/stream.py": stream, "app/routes.py": routes},
                   select=("DS201", "DS401"))
    assert got == [("app/stream.py", "DS201", 5), ("app/stream.py", "DS401", 5)]
    alone = found_in({"app/stream.py": stream, "app/routes.py": routes}, select=("DS201", "DS401"))
    assert alone == []  # a project that builds no model: the runnable may be anything


def test_a_client_kept_in_a_dict_by_the_lifespan_is_followed_to_the_handlers_that_read_it():
    globals_ = """
        clients = {}
    """
    lifespan = """
        import contextlib
        import os

        import fastapi
        import openai

        from .globals import clients

        @contextlib.asynccontextmanager
        async def lifespan(app: fastapi.FastAPI):
            client_args = {"api_key": os.getenv("KEY")}
            clients["openai"] = openai.AsyncOpenAI(**client_args)
            clients["bounded"] = openai.AsyncOpenAI(timeout=20, max_retries=3, **client_args)
            yield
    """
    chat = """
        import fastapi

        from .globals import clients

        router = fastapi.APIRouter()

        @router.post("/chat")
        async def chat(body: dict):
            first = await clients["openai"].chat.completions.create(model="m", max_tokens=50,
                                                                     messages=body["messages"])
            second = await clients["bounded"].chat.completions.create(model="m", max_tokens=50, messages=[])
            return first, second
    """
    got = found_in({"api/globals.py": globals_, "api/__init__.py": lifespan, "api/chat.py": chat},
                   select=("DS101", "DS201", "DS401"))
    assert got == [("api/chat.py", "DS101", 10), ("api/chat.py", "DS201", 10), ("api/chat.py", "DS401", 10)]


def test_a_reflex_event_handlers_arguments_are_user_input():
    state = """
        import reflex as rx
        from openai import OpenAI

        client = OpenAI(timeout=30)

        class State(rx.State):
            @rx.event
            def process_question(self, form_data: dict):
                question = form_data["question"]
                return client.chat.completions.create(model="m", max_tokens=50,
                                                      messages=[{"role": "user", "content": question}])

            def helper(self, text: str):  # not an event handler
                return client.chat.completions.create(model="m", max_tokens=50, messages=[{"content": text}])
    """
    assert found(state, select=("DS401", "DS201")) == [("DS401", 11)]


def test_a_models_reply_is_not_user_data_when_it_is_sent_on():
    flow = """
        from fastapi import FastAPI
        from openai import OpenAI
        from mem0 import Memory

        app = FastAPI()
        client = OpenAI(timeout=30, max_retries=2)
        memory = Memory()

        @app.post("/support")
        def support(body: dict):
            reply = client.chat.completions.create(model="m", max_tokens=50, messages=[{"content": body["q"]}])
            answer = reply.choices[0].message.content
            memory.add(answer, user_id="support")  # the model's text, not the user's
            memory.add(body["q"], user_id="support")
            return answer
    """
    assert found(flow, select=("DS401",)) == [("DS401", 12), ("DS401", 15)]
