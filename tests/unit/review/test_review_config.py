"""pyproject [tool.dayshift.review]: select, ignore, per-file ignores, exclude, and clear errors."""

from pathlib import Path

import pytest

from dayshift.errors import ConfigError
from dayshift.review import RULES, load_config, review_paths

LEAKY = 'import requests\n\ndef f(u):\n    return requests.get(u)\n'


def project(tmp_path: Path, section: str) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n\n" + section, encoding="utf-8")
    for rel in ("app/main.py", "tests/test_main.py", "migrations/0001.py"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(LEAKY, encoding="utf-8")
    return tmp_path


def test_select_ignore_per_file_ignores_and_exclude(tmp_path: Path):
    root = project(tmp_path, """
[tool.dayshift.review]
select = ["timeout", "DS5"]
ignore = ["DS102"]
exclude = ["migrations"]

[tool.dayshift.review.per-file-ignores]
"tests/*" = ["DS101"]
""")
    config = load_config(root / "app")
    assert config.source == root / "pyproject.toml"
    assert config.enabled() == {"DS101", "DS501", "DS502"}
    report = review_paths([root], config=config)
    assert [(f.path, f.rule_id) for f in report.findings] == [("app/main.py", "DS101")]
    assert report.files == 2


def test_no_pyproject_section_means_every_rule(tmp_path: Path):
    root = project(tmp_path, "")
    assert load_config(root).enabled() == set(RULES)


@pytest.mark.parametrize(("section", "expected"), [
    ('[tool.dayshift.review]\nselct = ["DS1"]\n', "unknown key 'selct'"),
    ('[tool.dayshift.review]\nselect = "DS1"\n', "must be a list of strings"),
    ('[tool.dayshift.review]\nignore = ["DS999"]\n', 'unknown rule "DS999"'),
    ('[tool.dayshift.review.per-file-ignores]\n"tests/*" = "DS1"\n', "must be a list of rule ids"),
    ('[tool.dayshift.review\n', "is not valid TOML"),
])
def test_bad_config_names_the_file_and_the_fix(tmp_path: Path, section: str, expected: str):
    root = project(tmp_path, section)
    with pytest.raises(ConfigError) as err:
        load_config(root)
    assert expected in str(err.value)
    assert str(root / "pyproject.toml") in str(err.value)
