"""Function summaries: parameters that reach sinks, returned model output, and module state."""

from review_snippets import found, found_in


def test_a_chat_history_filled_by_one_handler_and_sent_by_another_is_user_data():
    # openai-quickstart's chat-basic shape: /chat appends to a module-level list, /stream sends it
    assert found("""
        from flask import Flask, Response, jsonify, request
        import openai

        client = openai.OpenAI(timeout=30)
        app = Flask(__name__)
        chat_history = [{"role": "system", "content": "You are a helpful assistant."}]

        @app.route("/chat", methods=["POST"])
        def chat():
            chat_history.append({"role": "user", "content": request.json["message"]})
            return jsonify(success=True)

        @app.route("/stream")
        def stream():
            def generate():
                with client.chat.completions.create(model="gpt-4o", messages=chat_history, stream=True) as s:
                    for chunk in s:
                        yield chunk.choices[0].delta.content or ""
            return Response(generate(), mimetype="text/event-stream")
    """, select=("DS401",)) == [("DS401", 17)]


def test_state_that_only_the_server_writes_is_not_user_data():
    assert found("""
        from fastapi import FastAPI
        from openai import OpenAI

        client = OpenAI()
        app = FastAPI()
        SYSTEM = []

        def load():
            SYSTEM.append({"role": "system", "content": open("prompt.txt").read()})

        @app.get("/hello")
        def hello():
            return client.chat.completions.create(model="m", messages=SYSTEM, max_tokens=10, timeout=5)
    """, select=("DS401",)) == []


def test_a_value_stored_in_the_chainlit_user_session_is_followed_to_the_message_handler():
    assert found("""
        import chainlit as cl
        from langchain_openai import ChatOpenAI
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_core.output_parsers import StrOutputParser

        @cl.on_chat_start
        async def on_chat_start():
            model = ChatOpenAI(streaming=True, timeout=30, max_tokens=500, stream_usage=True)
            runnable = ChatPromptTemplate.from_template("Answer: {question}") | model | StrOutputParser()
            cl.user_session.set("runnable", runnable)

        @cl.on_message
        async def on_message(message: cl.Message):
            runnable = cl.user_session.get("runnable")
            async for chunk in runnable.astream({"question": message.content}):
                await cl.Message(content=chunk).send()
    """, select=("DS201", "DS401")) == [("DS201", 16), ("DS401", 16)]


def test_a_parse_in_a_helper_is_judged_by_the_try_at_each_call_site():
    files = {
        "parsing.py": """
            import json

            def parse_plan(text):
                return json.loads(text)
        """,
        "agent.py": """
            import json
            from openai import OpenAI
            from parsing import parse_plan

            client = OpenAI(timeout=10)

            def ask(goal):
                reply = client.chat.completions.create(model="m", max_tokens=300, messages=goal)
                return reply.choices[0].message.content

            def careful(goal):
                try:
                    return parse_plan(ask(goal))
                except json.JSONDecodeError:
                    return None

            def careless(goal):
                return parse_plan(ask(goal))
        """,
    }
    # reported once, at the parse, because careless() feeds it the model's text unguarded
    assert found_in(files, select=("DS301",)) == [("parsing.py", "DS301", 5)]
    only_careful = dict(files, **{"agent.py": files["agent.py"].split("def careless")[0]})
    assert found_in(only_careful, select=("DS301",)) == []


def test_model_output_returned_by_a_helper_and_run_as_code_elsewhere():
    assert found("""
        import subprocess
        from anthropic import Anthropic

        client = Anthropic(timeout=30)

        def suggest_command(task: str) -> str:
            reply = client.messages.create(model="claude-sonnet-4", max_tokens=200,
                                           messages=[{"role": "user", "content": task}])
            return reply.content[0].text.strip()

        def describe(task: str) -> int:
            return len(suggest_command(task))

        def run(task: str):
            subprocess.run(suggest_command(task), shell=True)
            subprocess.run(["echo", str(describe(task))])
    """, select=("DS302",)) == [("DS302", 16)]


def test_a_redactor_in_the_caller_or_the_callee_clears_the_flow_and_a_pure_helper_carries_nothing():
    assert found("""
        import posthog
        from fastapi import FastAPI
        from openai import OpenAI

        app = FastAPI()
        client = OpenAI(timeout=5)

        def send(text):
            return client.chat.completions.create(model="m", max_tokens=50, messages=[{"role": "user", "content": text}])

        def send_scrubbed(text):
            return send(scrub_pii(text))

        def word_count(text) -> int:
            return sum(1 for _ in text.split())

        @app.post("/a")
        def a(question: str):
            send(redact(question))
            send_scrubbed(question)
            posthog.capture("user", "asked", {"words": word_count(question)})
            return send(question)
    """, select=("DS401",)) == [("DS401", 10)]


def test_telemetry_reached_through_a_tracking_helper():
    assert found("""
        from fastapi import FastAPI
        import sentry_sdk

        app = FastAPI()

        def track(name, payload):
            sentry_sdk.set_context(name, payload)

        @app.post("/feedback")
        def feedback(comment: str, score: int):
            track("feedback", {"comment": comment})
            track("score", {"value": 5})
    """, select=("DS401",)) == [("DS401", 8)]


def test_a_request_body_stored_on_self_by_a_constructor_is_followed_to_the_method_that_sends_it():
    # the shape of a RAG flow object: built per request from the body, asked to answer later
    files = {
        "rag.py": """
            from openai import AsyncOpenAI

            class RAGChat:
                def __init__(self, *, messages, client: AsyncOpenAI):
                    self.client = client
                    self.params = self.prepare(messages)

                def prepare(self, messages):
                    return {"past": messages[:-1], "query": messages[-1]["content"]}

                async def answer(self):
                    return await self.client.responses.create(model="gpt-4o", max_output_tokens=300,
                                                              input=self.params["past"])

                async def greeting(self):
                    return await self.client.responses.create(model="gpt-4o", max_output_tokens=30,
                                                              input="Say hello.")
        """,
        "routes.py": """
            from fastapi import APIRouter
            from openai import AsyncOpenAI
            from rag import RAGChat

            router = APIRouter()
            client = AsyncOpenAI(timeout=30, max_retries=2)

            @router.post("/chat")
            async def chat(body: dict):
                return await RAGChat(messages=body["input"], client=client).answer()
        """,
    }
    assert found_in(files, select=("DS401",)) == [("rag.py", "DS401", 13)]


def test_a_class_name_rebound_to_its_instance_is_called_as_an_instance():
    files = {
        "bot/client.py": """
            from openai import AsyncOpenAI

            class chatClient:
                def __init__(self):
                    self.openai = AsyncOpenAI(timeout=20)

                async def reply(self, text):
                    return await self.openai.chat.completions.create(model="gpt-4o", max_tokens=100,
                                                                     messages=[{"role": "user", "content": text}])

            chatClient = chatClient()
        """,
        "bot/commands.py": """
            import discord
            from discord import app_commands
            from bot.client import chatClient

            tree = app_commands.CommandTree(discord.Client(intents=discord.Intents.default()))

            @tree.command(name="chat")
            async def chat(interaction: discord.Interaction, *, message: str):
                await interaction.response.send_message(await chatClient.reply(message))
        """,
    }
    assert found_in(files, select=("DS401",)) == [("bot/client.py", "DS401", 9)]
