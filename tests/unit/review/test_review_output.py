"""DS301/DS302: the model's text parsed without a check, or run as code."""

from review_snippets import found

O = ("DS301", "DS302")


def test_json_loads_of_model_text_needs_a_handler():
    assert found("""
        import json
        from openai import OpenAI
        from pydantic import BaseModel, ValidationError

        client = OpenAI(timeout=10)

        class Plan(BaseModel):
            steps: list[str]

        def plan(goal):
            response = client.chat.completions.create(model="m", messages=goal, max_tokens=200)
            text = response.choices[0].message.content
            steps = json.loads(text)
            try:
                checked = Plan.model_validate_json(text)
            except ValidationError:
                checked = None
            return steps, checked, Plan.model_validate_json(text.strip())
    """, select=O) == [("DS301", 14), ("DS301", 19)]


def test_tool_call_arguments_are_model_output_wherever_they_come_from():
    assert found("""
        import json

        def run_action(run):
            for tool in run.required_action.submit_tool_outputs.tool_calls:
                args = json.loads(tool.function.arguments)
                yield args

        def safe(tool_call):
            try:
                return json.loads(tool_call.function.arguments)
            except json.JSONDecodeError:
                return {}
    """, select=O) == [("DS301", 6)]


def test_sdk_serialisations_are_not_model_text():
    assert found("""
        import json
        from openai import OpenAI
        client = OpenAI(timeout=10)

        def turn(messages):
            completion = client.chat.completions.create(model="m", messages=messages, max_tokens=5, stream=True,
                                                        stream_options={"include_usage": True})
            for chunk in completion:
                delta = json.loads(chunk.choices[0].delta.json())
            message = json.loads(completion.model_dump_json())
            return delta, message
    """, select=O) == []


def test_model_text_run_as_code_shell_or_sql():
    assert found("""
        import sqlite3
        import subprocess
        import anthropic

        client = anthropic.Anthropic(timeout=20)
        db = sqlite3.connect("shop.db")

        def answer(question):
            reply = client.messages.create(model="m", max_tokens=300, messages=[{"role": "user", "content": question}])
            code = reply.content[0].text
            sql = f"SELECT * FROM orders WHERE {code}"
            rows = db.cursor().execute(sql).fetchall()
            db.execute("SELECT * FROM orders WHERE id = ?", (code,))
            subprocess.run(code, shell=True)
            return eval(code), rows
    """, select=O) == [("DS302", 13), ("DS302", 15), ("DS302", 16)]


def test_model_text_passed_to_a_helper_in_the_same_module_is_followed():
    assert found("""
        import json
        import litellm

        def parse(arguments):
            return json.loads(arguments)

        def call_tools(messages):
            response = litellm.completion(model="gpt-4o", messages=messages, timeout=10, max_tokens=100)
            for call in response.choices[0].message.tool_calls:
                parse(call.function.arguments)
    """, select=O) == [("DS301", 6)]


def test_a_handler_that_re_raises_the_same_error_is_not_handling_it_but_converting_it_is():
    assert found("""
        import json
        from openai import OpenAI
        client = OpenAI(timeout=10)

        class PlanError(Exception):
            pass

        def plan(goal):
            text = client.chat.completions.create(model="m", messages=goal, max_tokens=9).choices[0].message.content
            try:
                first = json.loads(text)
            except json.JSONDecodeError as exc:
                log(exc)
                raise
            try:
                second = json.loads(text)
            except ValueError as exc:
                raise PlanError(f"the model's plan is not JSON: {exc}") from exc
            return first, second
    """, select=O) == [("DS301", 12)]
