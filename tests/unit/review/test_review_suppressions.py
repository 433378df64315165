"""Inline suppressions: a reason is required, unused ones are reported, multi-line calls work."""

from review_snippets import found

from dayshift.review import ReviewConfig, review_source

CODE = '''
import requests

def a(url):
    return requests.get(url)  # dayshift: ignore[DS101] the health probe must wait as long as the server does

def b(url):
    return requests.get(url)  # dayshift: ignore[DS101]

def c(url):
    return requests.get(
        url,  # dayshift: ignore[DS101,DS502] streamed download, bounded by the caller's deadline
    )

def d(url):
    return url  # dayshift: ignore[DS101] nothing here any more

def e(url):
    return requests.get(url)  # dayshift: ignroe DS101 typo
'''


def test_reasoned_suppressions_apply_and_reasonless_or_unused_ones_are_reported():
    findings, suppressed = review_source(CODE, "app.py", config=ReviewConfig())
    assert suppressed == 2
    assert sorted((f.rule_id, f.line) for f in findings) == [
        ("DS001", 8), ("DS001", 19), ("DS002", 16), ("DS101", 8), ("DS101", 19)]
    messages = {f.rule_id: f.message for f in findings}
    assert "no reason" in messages["DS001"] or "malformed" in messages["DS001"]


def test_meta_rules_can_be_turned_off_like_any_other():
    assert found(CODE, select=("DS101",)) == [("DS101", 8), ("DS101", 19)]
