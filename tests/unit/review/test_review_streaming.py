"""DS701: streamed calls that never report their token usage."""

from review_snippets import found

S = ("DS701",)


def test_openai_and_litellm_streams_must_ask_for_usage():
    assert found('''
        import litellm
        from openai import OpenAI
        from langchain_openai import ChatOpenAI

        client = OpenAI(timeout=30)

        def run(messages, stream):
            client.chat.completions.create(model="m", messages=messages, stream=True)
            client.chat.completions.create(model="m", messages=messages, stream=True,
                                           stream_options={"include_usage": True})
            client.chat.completions.create(model="m", messages=messages, stream=stream)
            client.chat.completions.create(model="m", messages=messages, stream=False)
            client.chat.completions.stream(model="m", messages=messages)
            client.responses.create(model="m", input="x", stream=True)
            litellm.completion(model="gpt-4o", messages=messages, stream=True)
            ChatOpenAI(model="gpt-4o", streaming=True)
            ChatOpenAI(model="gpt-4o", streaming=True, stream_usage=True)
    ''', select=S) == [("DS701", 9), ("DS701", 12), ("DS701", 14), ("DS701", 16), ("DS701", 17)]


def test_the_v0_api_cannot_report_usage_when_streaming_and_anthropic_always_does():
    assert found('''
        import openai
        import anthropic
        openai.ChatCompletion.create(model="gpt-3.5-turbo", messages=[], stream=True)
        with anthropic.Anthropic(timeout=5).messages.stream(model="c", max_tokens=10, messages=[]) as s:
            pass
    ''', select=S) == [("DS701", 4)]
