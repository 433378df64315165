"""The rules file: the shipped defaults, overrides key by key, and errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from dayshift.errors import ConfigError
from dayshift.monitor.detectors import RUNBOOKS
from dayshift.monitor.rules import load_rules

REPO = Path(__file__).resolve().parents[3]


def test_shipped_rules_cover_every_check_and_every_runbook_exists() -> None:
    rules = load_rules()
    assert set(rules.checks) == set(RUNBOOKS)
    for check, path in RUNBOOKS.items():
        assert (REPO / path).is_file(), f"{check}: runbook {path} is missing"
        rule = rules.check(check)
        assert rule.alert >= rule.warn and rule.min_samples >= 1 and rule.cooldown_s > 0
    assert rules.notify == "alert" and rules.reference_days == 7


def test_grade_needs_the_statistic_and_the_effect() -> None:
    rule = load_rules().check("abstention_rate")
    assert rule.grade(6.0) == "alert" and rule.grade(4.0) == "warn" and rule.grade(1.0) == "ok"
    assert rule.grade(6.0, effect=False) == "ok"
    assert rule.grade(float("nan")) == "ok"
    assert rule.large_enough(0.30, 0.15) and not rule.large_enough(0.16, 0.15)


def test_z_thresholds_scale_with_the_window_length() -> None:
    rule = load_rules().check("abstention_rate")  # warn 4, alert 5 for one hour
    assert rule.grade_z(5.0, hours=1) == "alert" and rule.grade_z(4.9, hours=1) == "warn"
    assert rule.grade_z(4.4, hours=24) == "alert" and rule.grade_z(4.3, hours=24) == "warn"
    assert rule.grade_z(5.1, hours=0.25) == "warn"  # shorter windows: more chances, a higher bar
    assert rule.grade_z(9.0, hours=1, effect=False) == "ok" and rule.grade_z(float("nan"), hours=1) == "ok"


def test_an_alert_bar_set_out_of_reach_leaves_warnings(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[checks.abstention_rate]\nalert = 1e9\n")  # "warn only", however long the window
    rule = load_rules(path).check("abstention_rate")
    assert [rule.grade_z(80.0, hours=h) for h in (0.25, 1, 24, 168)] == ["warn"] * 4
    assert rule.grade_z(3.0, hours=24) == "ok"


def test_a_rules_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[checks.abstention_rate]\nalert = 7.0\ncooldown_minutes = 5\n[budget]\ndaily_usd = 25.0\n'
                    '[budget.tenants]\nacme = 3\n')
    rules = load_rules(path)
    rule = rules.check("abstention_rate")
    assert rule.alert == 7.0 and rule.warn == 4.0 and rule.cooldown_s == 300
    assert rules.daily_budget_usd == 25.0 and rules.tenant_budgets_usd == {"acme": 3.0}
    assert rules.check("cost_spike").alert == 6.0
    assert rules.check("query_drift").option("novelty_quantile", 0.5) == 0.05


@pytest.mark.parametrize(("text", "message"), [
    ("[checks.abstention_rate]\nalert = 1.0\n", "must not be below warn"),
    ('[checks.abstention_rate]\ndedup = ["tenant", "colour"]\n', "colour"),
    ('[alerts]\nnotify = "page"\n', "notify"),
    ("[monitor]\nreference_days = 0\n", "reference_days"),
    ("[checks.new_check]\nwarn = 1\n", "alert"),
    ("[checks\n", "not valid TOML"),
])
def test_bad_rules_say_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_rules(path)


def test_missing_file_and_unknown_check() -> None:
    with pytest.raises(ConfigError, match="no rules file"):
        load_rules(Path("/nonexistent/rules.toml"))
    with pytest.raises(ConfigError, match=r"\[checks.nope\]"):
        load_rules().check("nope")
