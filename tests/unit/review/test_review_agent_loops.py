"""DS801: loops that call a model until the model decides to stop."""

from review_snippets import found

A = ("DS801",)


def test_an_unbounded_tool_loop_is_reported_and_bounded_ones_are_not():
    assert found('''
        import anthropic
        client = anthropic.Anthropic(timeout=60)

        def agent(messages, tools):
            while True:
                reply = client.messages.create(model="m", max_tokens=1024, messages=messages, tools=tools)
                if reply.stop_reason != "tool_use":
                    return reply
                messages.append(run_tools(reply))

        def bounded(messages, tools, max_steps=10):
            steps = 0
            while True:
                steps += 1
                if steps > max_steps:
                    raise RuntimeError("step limit reached")
                reply = client.messages.create(model="m", max_tokens=1024, messages=messages, tools=tools)

        def turns(messages, max_turns=5):
            while len(messages) < max_turns:
                messages.append(client.messages.create(model="m", max_tokens=10, messages=messages))

        def forever_retry(messages):
            keep_trying = True
            while keep_trying:
                try:
                    client.messages.create(model="m", max_tokens=10, messages=messages)
                    keep_trying = False
                except Exception:
                    pass
    ''', select=A) == [("DS801", 6), ("DS801", 26)]


def test_a_loop_through_a_helper_counts_and_a_chat_with_a_person_does_not():
    assert found('''
        import openai

        def ask(prompt):
            return openai.ChatCompletion.create(model="gpt-4", messages=[{"role": "user", "content": prompt}])

        def plan(objective):
            return ask(f"Plan {objective}")

        while True:
            plan("world peace")

        while True:
            user = input("> ")
            print(ask(user))
    ''', select=A) == [("DS801", 10)]


def test_a_queue_worker_is_driven_by_its_queue_not_by_the_model():
    assert found("""
        import asyncio
        from openai import AsyncOpenAI

        client = AsyncOpenAI(timeout=30)

        class Bot:
            def __init__(self):
                self.jobs = asyncio.Queue()

            async def worker(self):
                while True:
                    text = await self.jobs.get()
                    await client.chat.completions.create(model="m", max_tokens=50,
                                                         messages=[{"role": "user", "content": text}])

            async def poll(self):
                while True:
                    await client.chat.completions.create(model="m", max_tokens=50, messages=[])
                    await asyncio.sleep(1)
    """, select=("DS801",)) == [("DS801", 18)]
