"""DS201: model calls on a request path with no retry, and the retries that clear it."""

from review_snippets import found

R = ("DS201",)


def test_a_handler_and_the_helpers_it_calls_are_the_request_path():
    assert found("""
        from fastapi import FastAPI
        from openai import OpenAI

        app = FastAPI()
        client = OpenAI(timeout=30)

        def summarise(text):
            return client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])

        @app.post("/summaries")
        async def create_summary(body: dict):
            return summarise(body["text"])

        def nightly_batch(texts):  # not on a request path
            return [client.chat.completions.create(model="m", messages=t) for t in texts]
    """, select=R) == [("DS201", 9)]


def test_max_retries_zero_is_reported_and_a_positive_value_clears_it():
    assert found("""
        from flask import Flask, request
        import anthropic

        app = Flask(__name__)
        strict = anthropic.Anthropic(max_retries=0)
        patient = anthropic.Anthropic(max_retries=3)

        @app.route("/a", methods=["POST"])
        def a():
            return strict.messages.create(model="m", max_tokens=10, messages=request.json["m"]).content[0].text

        @app.route("/b", methods=["POST"])
        def b():
            return patient.messages.create(model="m", max_tokens=10, messages=request.json["m"]).content[0].text
    """, select=R) == [("DS201", 11)]


def test_tenacity_decorators_retry_loops_and_litellm_num_retries_count_as_retries():
    assert found("""
        import litellm
        from fastapi import APIRouter
        from openai import OpenAI
        from tenacity import retry, stop_after_attempt, wait_random_exponential

        router = APIRouter()
        client = OpenAI()

        @retry(wait=wait_random_exponential(min=1, max=20), stop=stop_after_attempt(3))
        def ask(q):
            return client.chat.completions.create(model="m", messages=q)

        def ask_by_hand(q):
            for attempt in range(3):
                try:
                    return client.chat.completions.create(model="m", messages=q)
                except Exception:
                    continue

        @router.post("/chat")
        def chat(q: list):
            litellm.completion(model="gpt-4o", messages=q, num_retries=2)
            litellm.completion(model="gpt-4o", messages=q)
            return ask(q), ask_by_hand(q)
    """, select=R) == [("DS201", 24)]


def test_code_after_an_unconditional_raise_is_not_on_the_request_path():
    assert found("""
        from fastapi import FastAPI
        from openai import OpenAI
        app = FastAPI()
        client = OpenAI()

        def work(q):
            return client.chat.completions.create(model="m", messages=q)

        @app.post("/x")
        def x(q: list):
            raise NotImplementedError("disabled")
            return work(q)
    """, select=R) == []
