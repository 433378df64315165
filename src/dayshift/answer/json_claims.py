"""What a JSON answer claims: its text and number values, one claim each, for the support check.

    {"model": "all-MiniLM-L6-v2", "dims": 384, "tags": ["fast"], "ok": true}
      -> "all-MiniLM-L6-v2.\\n384.\\nfast."

Values the schema fixes to a choice (`enum`, `const`) and booleans are the
model's classification, not text it copies, so they are not claims; nor is null
("the sources do not say"). Left out: checking that a value answers its
field's question (that "384" is the dimension, not the layer count).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def claims_text(value: Any, schema: Mapping[str, Any]) -> str:
    """The value's claims as one text, a sentence each (what `check_support` splits on)."""
    return "\n".join(f"{claim.rstrip('.')}." for claim in _claims(value, schema) if claim.strip())


def _claims(value: Any, schema: Mapping[str, Any]) -> Iterator[str]:
    if "enum" in schema or "const" in schema or value is None or isinstance(value, bool):
        return
    if isinstance(value, Mapping):
        properties = schema.get("properties", {})
        for key, item in value.items():
            yield from _claims(item, properties.get(key, {}))
    elif isinstance(value, list):
        items = schema.get("items", {})
        for item in value:
            yield from _claims(item, items if isinstance(items, Mapping) else {})
    elif isinstance(value, (int, float)):
        yield f"{value:g}" if isinstance(value, float) else str(value)
    elif isinstance(value, str):
        yield value
