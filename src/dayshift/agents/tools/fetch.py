"""`fetch_url`: GET a page from an allow-listed host and read its text. Off unless hosts are allowed.

    agent.fetch_allow_hosts = ["docs.python.org", "*.nist.gov"]    # exact hosts, or every subdomain of one

A URL is checked before any request: http or https, no user name or password in it, and a host
on the list (a subdomain pattern does not match the bare domain). Redirects are followed by hand,
at most 3, and each target is checked the same way, so an allowed host cannot bounce the request
elsewhere. At most `max_bytes` are read, within the run's remaining time; HTML becomes plain text
(the ingest loader's converter). Nothing a document or a tool result says can add a host: the list
comes from settings only.

Left out: POST and other methods, cookies, JavaScript, and robots.txt.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urljoin, urlsplit

from pydantic import BaseModel, Field

from dayshift.agents.tools.base import Evidence, RunContext, ToolError, ToolOutput, clip
from dayshift.errors import ConfigError

MAX_REDIRECTS = 3


class FetchArgs(BaseModel):
    url: str = Field(min_length=8, max_length=2000, description="an http(s) URL on an allowed host")


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def check_url(url: str, allowed: Sequence[str]) -> str:
    """`url` if it may be fetched; ToolError (refused) naming why not."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ToolError(f"only http and https URLs can be fetched, not {parts.scheme or 'a URL without a scheme'}",
                        refused=True)
    if parts.username or parts.password:
        raise ToolError("URLs with a user name or password are not fetched", refused=True)
    host = parts.hostname or ""
    if not host_allowed(host, allowed):
        raise ToolError(f"{host or 'that URL'} is not on the allowed hosts ({', '.join(allowed)}); only those "
                        "can be fetched", refused=True)
    return url.strip()


class FetchUrl:
    name = "fetch_url"
    Args = FetchArgs

    def __init__(self, allow_hosts: Sequence[str], *, max_bytes: int = 200_000, timeout_s: float = 10.0,
                 page_chars: int = 3000) -> None:
        if not allow_hosts:
            raise ConfigError("fetch_url is off: it fetches only from hosts you allow; set agent.fetch_allow_hosts "
                              '(DAYSHIFT_AGENT__FETCH_ALLOW_HOSTS=\'["docs.example.com"]\') to turn it on')
        self.allow_hosts = tuple(allow_hosts)
        self.max_bytes, self.timeout_s, self.page_chars = max_bytes, timeout_s, page_chars
        self.description = (f"Fetch a web page and read its text. Only these hosts can be fetched: "
                            f"{', '.join(self.allow_hosts)}.")

    def run(self, args: FetchArgs, *, run: RunContext) -> ToolOutput:
        import httpx

        url = check_url(args.url, self.allow_hosts)
        timeout_s = min(self.timeout_s, run.time_left_s())
        if timeout_s <= 0.1:
            raise ToolError("no time is left in this run's budget for a fetch")
        try:
            with httpx.Client(follow_redirects=False, timeout=timeout_s) as client:
                body, content_type, url = self._get(client, url)
        except httpx.HTTPError as exc:
            raise ToolError(f"the fetch failed ({type(exc).__name__}): the host may be down or unreachable") from None
        text = _as_text(body, content_type)
        evidence = Evidence(id=run.new_id("W"), kind="web", label=url, text=clip(text, self.page_chars), location=url)
        return ToolOutput(text=f"[{evidence.id}] {url}\n{evidence.text}", evidence=(evidence,),
                          data={"bytes": len(body), "content_type": content_type})

    def _get(self, client: object, url: str) -> tuple[bytes, str, str]:
        import httpx

        assert isinstance(client, httpx.Client)
        for _ in range(MAX_REDIRECTS + 1):
            with client.stream("GET", url) as response:
                if response.is_redirect:
                    url = check_url(urljoin(url, response.headers.get("location", "")), self.allow_hosts)
                    continue
                if response.status_code >= 400:
                    raise ToolError(f"{url} answered HTTP {response.status_code}")
                body = bytearray()
                for piece in response.iter_bytes():
                    body += piece
                    if len(body) >= self.max_bytes:
                        break
                return bytes(body[: self.max_bytes]), response.headers.get("content-type", ""), url
        raise ToolError(f"more than {MAX_REDIRECTS} redirects: the page was not fetched")


def _as_text(body: bytes, content_type: str) -> str:
    text = body.decode("utf-8", errors="replace")
    if "html" in content_type.lower() or text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
        from dayshift.ingest.loaders.html import html_to_text

        return html_to_text(text)
    return text
