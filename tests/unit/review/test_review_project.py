"""Several modules reviewed as one project: imports, calls and clients followed across files."""

from pathlib import Path

from review_snippets import found_in, messages_in

from dayshift.review import ReviewConfig, review_paths

# The shape of a FastAPI gateway that hands the request to an agent package (an absolute import
# from the repository root, then a relative one inside the package).
GATEWAY = {
    "api_gateway/main.py": """
        from fastapi import FastAPI, Body
        from agent.loop import run_agent

        app = FastAPI()

        @app.post("/chat")
        async def chat(messages: list = Body(...)):
            return {"reply": await run_agent(messages, [])}
    """,
    "agent/loop.py": """
        from .openai_client import call_openai

        async def run_agent(messages, tools):
            while True:
                ai_msg = await call_openai(messages, tools)
                if ai_msg.tool_calls:
                    messages.append({"role": "assistant", "tool_calls": ai_msg.tool_calls})
                    continue
                return ai_msg.content
    """,
    "agent/openai_client.py": """
        from openai import AsyncOpenAI

        client = AsyncOpenAI(timeout=30)

        async def call_openai(messages, tools):
            formatted = [{"role": "system", "content": "You manage todos."}, *messages]
            response = await client.chat.completions.create(model="gpt-4o", messages=formatted, tools=tools,
                                                            max_tokens=500)
            return response.choices[0].message
    """,
}


def test_a_request_body_is_followed_through_two_modules_to_the_model_call():
    assert found_in(GATEWAY, select=("DS201", "DS401", "DS801")) == [
        ("agent/loop.py", "DS801", 5),
        ("agent/openai_client.py", "DS201", 8),
        ("agent/openai_client.py", "DS401", 8),
    ]


def test_the_finding_says_where_the_data_was_passed_in():
    messages = messages_in(GATEWAY, select=("DS401",))
    assert messages and "passed in at api_gateway/main.py:9" in messages[0]  # the handler's call


def test_a_flask_handler_calling_a_sibling_module_and_the_sdk_is_not_shadowed_by_a_module_named_openai():
    files = {
        "main.py": """
            from flask import Flask, request
            from apps import complete_prompt

            app = Flask(__name__)

            @app.route("/message", methods=["POST"])
            def message():
                chat = request.get_json()["message"]
                return complete_prompt(chat)
        """,
        "apps.py": """
            from services.openai import chat

            def complete_prompt(prompt):
                return chat([{"role": "user", "content": prompt}])
        """,
        "services/openai.py": """
            import openai

            def chat(messages):
                return openai.ChatCompletion.create(model="gpt-3.5-turbo", messages=messages, max_tokens=100,
                                                    request_timeout=20)
        """,
    }
    assert found_in(files, select=("DS201", "DS401")) == [
        ("services/openai.py", "DS201", 5),
        ("services/openai.py", "DS401", 5),
    ]


def test_a_client_built_in_one_module_is_checked_where_another_module_calls_it():
    files = {
        "app/clients.py": """
            from openai import OpenAI
            llm = OpenAI()
        """,
        "app/summarise.py": """
            from .clients import llm

            def summarise(text):
                return llm.chat.completions.create(model="gpt-4o-mini", max_tokens=200,
                                                   messages=[{"role": "user", "content": text}])
        """,
    }
    assert found_in(files, select=("DS101",)) == [("app/summarise.py", "DS101", 5)]
    assert "app/clients.py" in messages_in(files, select=("DS101",))[0]


def test_a_name_re_exported_by_a_package_and_a_package_without_init_are_both_followed():
    core = """
        import json
        from openai import OpenAI

        class Swarm:
            def __init__(self):
                self.client = OpenAI(timeout=30)

            def run(self, messages):
                completion = self.client.chat.completions.create(model="gpt-4o", messages=messages,
                                                                 max_tokens=300)
                message = completion.choices[0].message
                history = list(messages)
                history.append(json.loads(message.model_dump_json()))
                return history
    """
    repl = """
        import json
        from swarm import Swarm

        def pretty_print(messages):
            for message in messages:
                for call in message.get("tool_calls") or []:
                    print(json.loads(call["function"]["arguments"]))

        def loop(messages):
            pretty_print(Swarm().run(messages))
    """
    with_init = {"swarm/__init__.py": "from .core import Swarm\n", "swarm/core.py": core, "swarm/repl/repl.py": repl}
    without_init = {"swarm/core.py": core, "swarm/repl/repl.py": repl}
    # the parse of the SDK's own serialisation (core.py:14) is valid JSON; the tool arguments inside are not
    assert found_in(with_init, select=("DS301",)) == [("swarm/repl/repl.py", "DS301", 8)]
    assert found_in(without_init, select=("DS301",)) == [("swarm/repl/repl.py", "DS301", 8)]


def test_methods_are_resolved_through_the_object_the_class_and_its_bases():
    files = {
        "engine/base.py": """
            from openai import OpenAI

            class BaseLLM:
                def __init__(self):
                    self.client = OpenAI(timeout=20, max_retries=0)

                def complete(self, messages):
                    return self.client.chat.completions.create(model="gpt-4o", messages=messages, max_tokens=64)
        """,
        "engine/chat.py": """
            from engine.base import BaseLLM

            class ChatEngine(BaseLLM):
                def chat(self, question):
                    return super().complete([{"role": "user", "content": question}])
        """,
        "server/app.py": """
            from fastapi import FastAPI
            from engine.chat import ChatEngine

            app = FastAPI()
            engine = ChatEngine()

            @app.post("/chat")
            def chat(question: str):
                return engine.chat(question)
        """,
    }
    assert found_in(files, select=("DS201", "DS401")) == [
        ("engine/base.py", "DS201", 9),
        ("engine/base.py", "DS401", 9),
    ]


def test_review_paths_reviews_a_folder_as_one_project_and_diff_mode_keeps_only_changed_lines(tmp_path: Path):
    for name, code in GATEWAY.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(__import__("textwrap").dedent(code), encoding="utf-8")
    config = ReviewConfig(select=("DS401",), root=tmp_path)
    report = review_paths([tmp_path], config=config, root=tmp_path)
    assert [(f.path, f.line) for f in report.findings] == [("agent/openai_client.py", 8)]
    client = (tmp_path / "agent/openai_client.py").resolve()
    # only the client module changed: the flow still starts in the unchanged gateway
    changed = review_paths([tmp_path], config=config, root=tmp_path, changed={client: {8}})
    assert [(f.path, f.line) for f in changed.findings] == [("agent/openai_client.py", 8)]
    assert changed.files == 1
    untouched = review_paths([tmp_path], config=config, root=tmp_path, changed={client: {3}})
    assert untouched.findings == []


def test_cycles_of_imports_and_recursion_end():
    files = {
        "a.py": """
            from b import pong
            from fastapi import FastAPI
            app = FastAPI()

            def ping(text, n):
                return pong(text, n - 1) if n else text

            @app.get("/")
            def root(q: str):
                return ping(q, 3)
        """,
        "b.py": """
            from a import ping
            import openai

            def pong(text, n):
                openai.chat.completions.create(model="m", messages=[{"role": "user", "content": text}],
                                               max_tokens=5, timeout=5)
                return ping(text, n)
        """,
    }
    assert found_in(files, select=("DS401",)) == [("b.py", "DS401", 6)]


def test_a_base_class_call_reaches_the_subclass_that_implements_it_through_a_thread_pool_hand_over():
    # canopy's shape: the handler hands ChatEngine.chat to a thread pool; the engine holds a BaseLLM
    files = {
        "llm/base.py": """
            from abc import ABC, abstractmethod

            class BaseLLM(ABC):
                @abstractmethod
                def chat_completion(self, chat_history): ...
        """,
        "llm/openai.py": """
            import openai
            from llm.base import BaseLLM

            class OpenAILLM(BaseLLM):
                def __init__(self):
                    self._client = openai.OpenAI(timeout=30)

                def chat_completion(self, chat_history):
                    return self._client.chat.completions.create(model="gpt-4o", messages=chat_history,
                                                                max_tokens=256)
        """,
        "engine.py": """
            from typing import Optional
            from llm.base import BaseLLM

            class ChatEngine:
                def __init__(self, llm: Optional[BaseLLM] = None):
                    self.llm = llm

                def chat(self, messages):
                    return self.llm.chat_completion(chat_history=messages)

            def get_engine() -> ChatEngine:
                return ChatEngine()
        """,
        "server.py": """
            from fastapi import FastAPI
            from starlette.concurrency import run_in_threadpool
            from engine import get_engine

            app = FastAPI()
            engine = get_engine()

            @app.post("/chat")
            async def chat(messages: list[dict]):
                return await run_in_threadpool(engine.chat, messages=messages)
        """,
    }
    assert found_in(files, select=("DS201", "DS401")) == [
        ("llm/openai.py", "DS201", 10),
        ("llm/openai.py", "DS401", 10),
    ]
