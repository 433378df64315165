"""DS501/DS502: credentials in the source and keys in the logs; placeholders and masks are fine."""

from review_snippets import found

S = ("DS501", "DS502")
# Built at run time so that this test file itself holds no key-shaped literal.
FAKE_OPENAI = "sk-proj-" + "Q3vX9kLm2Pz7" * 4
FAKE_ANTHROPIC = "sk-ant-api03-" + "Zr8Kq2Lm5Nx1" * 5
FAKE_POSTHOG = "phc_" + "A1b2C3d4E5f6" * 4  # a PostHog project key is public by design


def test_provider_keys_and_secret_named_literals_are_reported():
    code = f"""
import os
import openai
from anthropic import Anthropic

openai.api_key = "{FAKE_OPENAI}"
client = Anthropic(api_key="{FAKE_ANTHROPIC}")
os.environ["SERPAPI_API_KEY"] = "a81f0c2e9b7d4e6f8a1c3b5d7e9f0a2c"
DB_PASSWORD = "Tr0ub4dor&3xkcdLongEnough42"
MODEL_VERSION = "a029dff38972b5fda4ec5d75d7d1cd25aeff621d2cf4946a41055d7db66b80bc"
"""
    assert found(code, select=S) == [("DS501", 6), ("DS501", 7), ("DS501", 8), ("DS501", 9)]


def test_placeholders_are_not_secrets():
    assert found('''
        import openai
        from openai import OpenAI
        openai.api_key = "sk-..."
        client = OpenAI(api_key="YOUR_OPENAI_API_KEY_HERE")
        other = OpenAI(api_key="sk-proj-")
        api_key = "ENTER YOUR API KEY"
        settings = {"api_key": "<your-key>", "token": "xxxxxxxxxxxxxxxxxxxxxxxx"}
        posthog_project_api_key = "{FAKE_POSTHOG}"
    '''.replace("{FAKE_POSTHOG}", FAKE_POSTHOG), select=S) == []


def test_printing_or_logging_a_key_is_reported_and_masked_forms_are_not():
    assert found('''
        import logging
        import os

        logger = logging.getLogger(__name__)
        OPENAI_API_KEY = os.getenv("OPENAI_API_KEY")
        key = os.environ["ANTHROPIC_API_KEY"]

        print("key:", OPENAI_API_KEY)
        print(os.getenv("OPENAI_API_KEY"))
        logger.info(f"using {key}")
        logging.debug("client %s", client.api_key)
        print("key set:", bool(OPENAI_API_KEY))
        print(f"key starts {OPENAI_API_KEY[:4]}...")
        logger.warning("OPENAI_API_KEY is not set")
        print(f"{'YES' if OPENAI_API_KEY else 'NO'}")
        for token in stream:
            print(token, end="")
        print(os.getenv("OPENAI_BASE_URL"))
        print(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    ''', select=S) == [("DS502", 9), ("DS502", 10), ("DS502", 11), ("DS502", 12)]
