"""DS401: user data to a third-party model or telemetry, with and without redaction."""

from review_snippets import found, run_review

P = ("DS401",)


def test_a_fastapi_body_reaching_openai_is_reported_and_a_redacted_one_is_not():
    assert found("""
        from fastapi import Depends, FastAPI
        from openai import AsyncOpenAI
        from pydantic import BaseModel

        app = FastAPI()
        client = AsyncOpenAI(timeout=30)

        class Ask(BaseModel):
            question: str

        @app.post("/ask")
        async def ask(body: Ask, db=Depends(get_db)):
            messages = [{"role": "system", "content": "Be brief."}]
            messages.append({"role": "user", "content": body.question})
            return await client.chat.completions.create(model="m", messages=messages, max_tokens=50)

        @app.post("/ask-safely")
        async def ask_safely(body: Ask):
            text = redact_pii(body.question)
            return await client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
    """, select=P) == [("DS401", 16)]


def test_flask_request_data_and_streamlit_inputs_are_user_data():
    assert found("""
        import streamlit as st
        from flask import Flask, request
        from openai import OpenAI

        app = Flask(__name__)
        client = OpenAI()

        @app.route("/chat", methods=["POST"])
        def chat():
            data = request.get_json()
            return client.chat.completions.create(model="m", messages=[{"role": "user", "content": data["q"]}])

        api_key = st.sidebar.text_input("Key", type="password")
        if prompt := st.chat_input():
            st.session_state.messages.append({"role": "user", "content": prompt})
            client.chat.completions.create(model="m", messages=st.session_state.messages)
    """, select=P) == [("DS401", 12), ("DS401", 17)]


def test_local_models_are_not_third_parties():
    assert found("""
        from fastapi import FastAPI
        from openai import OpenAI
        app = FastAPI()
        local = OpenAI(base_url="http://localhost:11434/v1", api_key="ollama")

        @app.post("/q")
        def q(text: str):
            return local.chat.completions.create(model="llama3", messages=[{"role": "user", "content": text}])
    """, select=P) == []


def test_request_data_in_a_trace_span_or_telemetry_event():
    findings = run_review("""
        import sentry_sdk
        from flask import Flask, request
        from opentelemetry import trace

        app = Flask(__name__)

        @app.route("/ask", methods=["POST"])
        def ask():
            span = trace.get_current_span()
            span.set_attribute("question", request.json["question"])
            span.set_attribute("route", "/ask")
            sentry_sdk.set_context("body", request.json)
            return "ok"
    """, select=P)
    assert [(f.rule_id, f.line) for f in findings] == [("DS401", 11), ("DS401", 13)]
    assert "trace span" in findings[0].message


def test_the_taint_follows_a_helper_but_not_a_module_outside_the_reviewed_files():
    assert found("""
        from fastapi import FastAPI
        from openai import OpenAI
        from .llm import ask_model

        app = FastAPI()
        client = OpenAI()

        def build(question):
            return [{"role": "user", "content": question}]

        def send(messages):
            return client.chat.completions.create(model="m", messages=messages)

        @app.post("/a")
        def a(question: str):
            send(build(question))
            return ask_model(question)
    """, select=P) == [("DS401", 13)]
