"""DS601 (inline f-string prompts in request handlers) and DS602 (no output cap)."""

from review_snippets import found

P = ("DS601", "DS602")


def test_f_string_prompts_built_in_a_handler_are_reported_where_they_are_written():
    assert found('''
        from flask import Flask, request
        from openai import OpenAI

        app = Flask(__name__)
        client = OpenAI(timeout=20)
        SYSTEM = "You summarise."

        @app.route("/summary", methods=["POST"])
        def summary():
            text = request.get_json()["text"]
            prompt = f"Create the summary of the following text: {text}"
            label = f"{text}"
            return client.chat.completions.create(
                model="gpt-4o", max_tokens=200,
                messages=[{"role": "system", "content": SYSTEM.format()},
                          {"role": "user", "content": prompt},
                          {"role": "user", "content": label}])

        def offline(text):  # not a handler
            return client.chat.completions.create(model="gpt-4o", max_tokens=200,
                                                  messages=[{"role": "user", "content": f"Summarise {text}"}])
    ''', select=P) == [("DS601", 12)]


def test_raw_http_calls_to_a_model_server_count_too():
    assert found('''
        import requests
        from fastapi import FastAPI
        app = FastAPI()

        @app.post("/summarize/")
        def summarize(text: str):
            return requests.post("http://localhost:11434/api/generate", timeout=60,
                                 json={"model": "llama3", "prompt": f"summarize this: {text}", "stream": False})
    ''', select=P) == [("DS601", 9)]


def test_generation_calls_and_model_objects_without_a_cap():
    assert found('''
        import litellm
        import openai
        from langchain_openai import ChatOpenAI
        from langchain.llms import OpenAI as LangchainOpenAI
        from llama_index.llms.openai import OpenAI as LlamaOpenAI
        from anthropic import Anthropic

        client = openai.OpenAI(timeout=10)
        client.chat.completions.create(model="m", messages=[])
        client.chat.completions.create(model="m", messages=[], max_completion_tokens=500)
        client.responses.create(model="m", input="hi")
        client.responses.create(model="m", input="hi", max_output_tokens=300)
        litellm.completion(model="gpt-4o", messages=[], max_tokens=None)
        client.embeddings.create(model="e", input="x")
        Anthropic(timeout=5).messages.create(model="c", max_tokens=100, messages=[])
        ChatOpenAI(model="gpt-4o", timeout=10)
        LangchainOpenAI(temperature=0)
        LlamaOpenAI(model="gpt-4o")
        LlamaOpenAI(model="gpt-4o", max_tokens=256)
        params = {"model": "m", "messages": [], "max_tokens": 100}
        client.chat.completions.create(**params)
    ''', select=P) == [("DS602", 10), ("DS602", 12), ("DS602", 14), ("DS602", 17), ("DS602", 19)]
