"""ScriptedBackend, the test fake, passes the same LLM contract as every real backend."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("dayshift.testing.llm_contract")

from dayshift.testing.llm_contract import LLMBackendContract
from dayshift.testing.scripted_llm import ScriptedBackend

STORY = (
    "Once upon a time a grey cat named Moss lived at the top of a lighthouse, where she watched "
    "the ships pass every night and counted the gulls that slept on the rail below her window."
)


class TestScriptedBackend(LLMBackendContract):
    constrains_json = False  # it records json_schema but does not enforce it

    def make_backend(self) -> ScriptedBackend:
        return ScriptedBackend(default_reply=STORY)
