"""Model output and user input that a framework hands to your code through its documented APIs."""

import pytest
from review_snippets import found, found_in

O = ("DS301", "DS302")


def test_an_output_parsers_text_is_the_models():
    # LangChain's BaseOutputParser.parse(text) interface, as agent frameworks copy it
    assert found("""
        import ast
        import json
        from langchain_core.output_parsers import BaseOutputParser

        class ActionParser(BaseOutputParser):
            def parse(self, text: str) -> dict:
                try:
                    return json.loads(text)
                except BaseException as error:
                    raise error

        class SafeParser(BaseOutputParser):
            def parse(self, text: str) -> dict:
                try:
                    return ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    return {}

        class Settings:
            def parse(self, text: str) -> dict:
                return json.loads(text)
    """, select=O) == [("DS301", 9)]


def test_the_arguments_of_registered_tools_are_chosen_by_the_model():
    assert found("""
        import sqlite3
        import subprocess
        from langchain_core.tools import tool, BaseTool
        from llama_index.core.tools import FunctionTool

        db = sqlite3.connect("shop.db")

        @tool
        def run_query(query: str) -> list:
            \"\"\"Run a SQL query against the shop database.\"\"\"
            return db.cursor().execute(query).fetchall()

        def shell(command: str) -> str:
            return subprocess.run(command, shell=True, capture_output=True, text=True).stdout

        shell_tool = FunctionTool.from_defaults(fn=shell)

        class Calculator(BaseTool):
            name: str = "calculator"
            description: str = "evaluates arithmetic"

            def _run(self, expression: str, run_manager=None) -> str:
                return str(eval(expression))

        def helper(query: str):
            return db.cursor().execute(query).fetchall()
    """, select=O) == [("DS302", 12), ("DS302", 15), ("DS302", 24)]


def test_a_chat_models_message_content_and_a_typed_model_parameter():
    assert found("""
        import json
        from langchain_core.language_models import BaseChatModel

        def extract(llm, text):
            return json.loads(llm.invoke(f"Return JSON for: {text}").content)

        def classify(model: BaseChatModel, text: str):
            label = model.invoke([("user", text)])
            return eval(label.content)

        def count(retriever, text):
            return json.loads(retriever.invoke(text)[0].page_content)
    """, select=O) == [("DS301", 6), ("DS302", 10)]


def test_a_llama_index_query_engines_response():
    assert found("""
        import json
        from llama_index.core import VectorStoreIndex

        def answer(index: VectorStoreIndex, question: str):
            engine = index.as_query_engine(similarity_top_k=3)
            response = engine.query(question + " Answer in JSON.")
            return json.loads(response.response)
    """, select=O) == [("DS301", 8)]


def test_discord_messages_and_slash_command_options_are_user_data():
    files = {
        "bot/main.py": """
            import discord
            from discord import app_commands
            from bot.moderation import moderate

            client = discord.Client(intents=discord.Intents.default())
            tree = app_commands.CommandTree(client)

            @client.event
            async def on_message(message: discord.Message):
                if message.author == client.user:
                    return
                moderate(message.content)

            @tree.command(name="chat")
            async def chat(interaction: discord.Interaction, prompt: str):
                moderate(prompt)
        """,
        "bot/moderation.py": """
            from openai import OpenAI

            client = OpenAI(timeout=10)

            def moderate(text: str):
                return client.moderations.create(input=text, model="omni-moderation-latest")
        """,
    }
    assert found_in(files, select=("DS401",)) == [("bot/moderation.py", "DS401", 7)]


def test_a_cli_command_is_the_operators_input_not_a_users():
    assert found("""
        import typer
        from openai import OpenAI

        app = typer.Typer()
        client = OpenAI(timeout=10)

        @app.command()
        def ask(question: str):
            print(client.chat.completions.create(model="m", max_tokens=100,
                                                 messages=[{"role": "user", "content": question}]))
    """, select=("DS401",)) == []


HEAD = """
import gradio as gr
from openai import OpenAI
from slack_bolt import App
from telegram.ext import ApplicationBuilder, MessageHandler, filters

client = OpenAI(timeout=10)
slack = App(token="from-env")
telegram = ApplicationBuilder().token("from-env").build()

def complete(text):
    return client.chat.completions.create(model="m", max_tokens=100, messages=[{"role": "user", "content": text}])
"""


@pytest.mark.parametrize("entry", [
    """
@slack.message("")
def on_slack(message, say):
    say(complete(message["text"]).choices[0].message.content)
""",
    """
async def on_telegram(update, context):
    await update.message.reply_text(complete(update.message.text).choices[0].message.content)

telegram.add_handler(MessageHandler(filters.TEXT, on_telegram))
""",
    """
def respond(message, history):
    return complete(message).choices[0].message.content

gr.ChatInterface(respond).launch()
""",
], ids=["slack-bolt", "python-telegram-bot", "gradio"])
def test_slack_telegram_and_gradio_callbacks_receive_user_input(entry: str):
    assert found(HEAD + entry, select=("DS401",)) == [("DS401", 12)]
    registration = ('@slack.message("")', "telegram.add_handler(MessageHandler(filters.TEXT, on_telegram))",
                    "gr.ChatInterface(respond).launch()")
    unregistered = "\n".join(line for line in entry.splitlines() if line not in registration)
    assert found(HEAD + unregistered, select=("DS401",)) == []


AGENTS_APP = """
from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool
from fastapi import FastAPI
from openai import AsyncOpenAI

app = FastAPI()
client = AsyncOpenAI()
model = OpenAIResponsesModel(model="gpt-4o", openai_client=client)
answerer = Agent(name="Answerer", model=model, model_settings=ModelSettings(max_tokens=500))
searcher = Agent(name="Searcher", model=model)

@app.post("/chat")
async def chat(question: str):
    found = await Runner.run(searcher, input=question)
    return (await Runner.run(answerer, input=[{"role": "user", "content": question}])).final_output
"""


def test_the_openai_agents_sdk_runner_is_a_model_call_on_the_client_its_agents_model_holds():
    # the searcher agent has no output cap (line 10); both runs use a client without timeout or retries
    assert found(AGENTS_APP, select=("DS101", "DS201", "DS401", "DS602")) == [
        ("DS101", 14), ("DS101", 15), ("DS201", 14), ("DS201", 15), ("DS401", 14), ("DS401", 15), ("DS602", 10)]
    bounded = AGENTS_APP.replace("AsyncOpenAI()", "AsyncOpenAI(timeout=30, max_retries=3)")
    assert found(bounded, select=("DS101", "DS201")) == []


def test_an_injected_client_known_by_its_annotation_is_a_model_call_but_decides_no_timeout():
    assert found("""
        from fastapi import FastAPI
        from openai import AsyncOpenAI

        app = FastAPI()

        async def embed(text: str, client: AsyncOpenAI) -> list[float]:
            reply = await client.embeddings.create(model="text-embedding-3-small", input=text)
            return reply.data[0].embedding

        @app.get("/search")
        async def search(query: str, client: AsyncOpenAI):
            return await embed(query, client)
    """, select=("DS101", "DS201", "DS401")) == [("DS401", 8)]


def test_a_tool_method_registered_with_function_tool_runs_its_arguments_as_sql_where_they_are_executed():
    assert found("""
        from agents import Agent, function_tool
        from sqlalchemy import text

        class Search:
            def __init__(self, session):
                self.session = session
                self.agent = Agent(name="Searcher", tools=[function_tool(self.search_database)])

            async def search_database(self, brand: str):
                clause = f"WHERE brand = '{brand}'"
                sql = text(f"SELECT * FROM items {clause}")
                return (await self.session.execute(sql)).fetchall()

            async def by_id(self, item_id: int):
                return (await self.session.execute(text(f"SELECT * FROM items WHERE id = {item_id}"))).first()
    """, select=O) == [("DS302", 13)]


def test_image_prompts_and_langsmith_feedback_are_user_data_sinks():
    assert found("""
        import langsmith.client
        from fastapi import FastAPI
        from openai import OpenAI

        app = FastAPI()
        images = OpenAI(timeout=60)
        feedback = langsmith.client.Client()

        @app.post("/draw")
        def draw(prompt: str):
            return images.images.generate(model="dall-e-3", prompt=prompt).data[0].url

        @app.post("/feedback")
        def rate(run_id: str, comment: str):
            feedback.create_feedback(run_id, "user-score", comment=comment)
    """, select=("DS401",)) == [("DS401", 12), ("DS401", 16)]
