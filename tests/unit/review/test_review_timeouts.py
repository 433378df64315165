"""DS101/DS102 on the client shapes people write: built in one place, called in another."""

from review_snippets import found, run_review

T = ("DS101", "DS102")


def test_openai_client_without_timeout_is_reported_at_each_call_with_where_it_was_built():
    findings = run_review("""
        from openai import OpenAI

        client = OpenAI()

        def answer(question):
            return client.chat.completions.create(model="gpt-4o-mini", max_tokens=100,
                                                  messages=[{"role": "user", "content": question}])

        def embed(text):
            return client.embeddings.create(model="text-embedding-3-small", input=text)
    """, select=T)
    assert [(f.rule_id, f.line) for f in findings] == [("DS101", 7), ("DS101", 11)]
    assert "line 4" in findings[0].message and "600 s" in findings[0].message


def test_a_timeout_on_the_client_the_call_or_with_options_clears_it():
    assert found("""
        import openai
        from openai import AsyncOpenAI

        slow = openai.OpenAI(timeout=30.0)
        bare = AsyncOpenAI()

        async def run(q):
            a = slow.chat.completions.create(model="m", messages=q)
            b = await bare.chat.completions.create(model="m", messages=q, timeout=20)
            c = await bare.with_options(timeout=10, max_retries=1).chat.completions.create(model="m", messages=q)
            fast = bare.with_options(timeout=5)
            d = await fast.responses.create(model="m", input=q)
            return a, b, c, d
    """, select=T) == []


def test_clients_kept_on_self_from_a_factory_and_through_kwargs_dicts_are_followed():
    assert found("""
        import anthropic
        from openai import AzureOpenAI

        def make_client():
            client = AzureOpenAI(api_version="2024-06-01", azure_endpoint="https://x.openai.azure.com")
            return client

        class Bot:
            def __init__(self, api_key=None):
                kwargs = {"api_key": api_key}
                kwargs["base_url"] = "https://api.anthropic.com"
                self.client = anthropic.Anthropic(**kwargs)

            def ask(self, messages):
                return self.client.messages.create(model="claude-sonnet-4", max_tokens=512, messages=messages)

        def handler(messages):
            client = make_client()
            return client.chat.completions.create(model="gpt-4o", messages=messages, max_tokens=10)
    """, select=T) == [("DS101", 16), ("DS101", 20)]


def test_an_infinite_timeout_is_its_own_rule_wherever_it_is_written():
    assert found("""
        import aiohttp, httpx, requests
        from openai import OpenAI
        from llama_index.llms.openai import OpenAI as LlamaOpenAI

        client = OpenAI(timeout=None)
        llm = LlamaOpenAI(model="gpt-4o", timeout=None, max_tokens=256)
        http = httpx.Client(timeout=httpx.Timeout(None))

        def fetch(url):
            requests.get(url, timeout=None)
            return aiohttp.ClientTimeout(total=None)
    """, select=T) == [("DS102", 6), ("DS102", 7), ("DS102", 8), ("DS102", 11), ("DS102", 12)]


def test_requests_and_aiohttp_need_a_timeout_but_httpx_has_a_default():
    assert found("""
        import aiohttp
        import httpx
        import requests

        def sync(url):
            requests.post(url, json={})
            session = requests.Session()
            session.get(url)
            httpx.get(url)
            requests.get(url, timeout=5)

        async def fetch(url):
            async with aiohttp.ClientSession() as session:
                async with session.get(url) as resp:
                    return await resp.json()

        async def bounded(url):
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
                return await session.get(url)
    """, select=T) == [("DS101", 7), ("DS101", 9), ("DS101", 15)]


def test_litellm_module_calls_and_the_v0_and_module_level_openai_apis():
    assert found("""
        import litellm
        import openai
        from litellm import completion

        def a(messages):
            return completion(model="gpt-4o", messages=messages)

        def b(messages):
            return litellm.completion(model="gpt-4o", messages=messages, timeout=30)

        def c(messages):
            return openai.ChatCompletion.create(model="gpt-3.5-turbo", messages=messages)

        def d(messages):
            return openai.chat.completions.create(model="gpt-4o", messages=messages)
    """, select=T) == [("DS101", 7), ("DS101", 13), ("DS101", 16)]
    assert found("""
        import litellm, openai
        litellm.request_timeout = 30
        openai.timeout = 20
        litellm.completion(model="gpt-4o", messages=[])
        openai.chat.completions.create(model="gpt-4o", messages=[])
    """, select=T) == []


def test_langchain_models_are_reported_where_they_are_built():
    assert found("""
        from langchain_openai import ChatOpenAI
        from langchain.chat_models import ChatOpenAI as LegacyChatOpenAI

        llm = ChatOpenAI(model="gpt-4o-mini", max_tokens=300)
        ok = ChatOpenAI(model="gpt-4o-mini", timeout=30, max_tokens=300)
        old = LegacyChatOpenAI(model_name="gpt-3.5-turbo", request_timeout=20, max_tokens=300)
        chain = prompt | llm
        chain.invoke({"q": "hi"})
    """, select=T) == [("DS101", 5)]


def test_a_client_of_unknown_origin_or_unreadable_kwargs_is_not_guessed_at():
    assert found("""
        def ask(client, messages, **params):
            return client.chat.completions.create(model="m", messages=messages)

        def ask2(self_client, settings):
            from openai import OpenAI
            client = OpenAI(**settings.client_kwargs())
            return client.chat.completions.create(model="m", messages=[])
    """, select=T) == []


def test_kwargs_dicts_built_with_dict_copies_and_item_assignment_are_read():
    assert found("""
        import copy
        import openai
        from anthropic import Anthropic

        BASE = {"model": "gpt-4o-mini", "max_tokens": 256}

        class Wrapper:
            def __init__(self, api_key):
                self.defaults = {"temperature": 0.2, "max_tokens": 100}
                client_kwargs = {"api_key": api_key}
                client_kwargs.setdefault("max_retries", 2)
                self.client = Anthropic(**client_kwargs)
                self.openai = openai.OpenAI(**dict(client_kwargs, timeout=20))

            def ask(self, messages, overrides=None):
                params = copy.deepcopy(self.defaults)
                params["model"] = "claude-sonnet-4"
                return self.client.messages.create(messages=messages, **params)

            def ask_openai(self, messages):
                params = dict(BASE, messages=messages)
                return self.openai.chat.completions.create(**params)

            def ask_bounded(self, messages):
                params = {**BASE, "messages": messages}
                params["timeout"] = 15
                return self.client.messages.create(**params)

            def ask_opaque(self, messages, **kwargs):
                return self.client.messages.create(messages=messages, **kwargs)
    """, select=T) == [("DS101", 19)]


def test_an_http_client_that_is_none_unless_a_proxy_is_set_is_no_timeout():
    assert found("""
        import os
        import httpx
        from langchain_openai import ChatOpenAI

        def get_llm():
            http_client = None
            if os.getenv("PROXY_URL"):
                http_client = httpx.AsyncClient(proxies=os.environ["PROXY_URL"])
            return ChatOpenAI(http_client=http_client, model="gpt-4o", max_tokens=500)

        def get_pinned_llm():
            return ChatOpenAI(http_client=httpx.AsyncClient(timeout=20), model="gpt-4o", max_tokens=500)
    """, select=T) == [("DS101", 10)]
