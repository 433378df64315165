"""The monitor's rules file: thresholds per check, the baseline, the budget, and how alerts are sent.

    rules = load_rules()                      # the shipped monitor/rules.toml
    rules = load_rules(Path("my-rules.toml")) # the shipped file, overridden key by key
    rules.check("abstention_rate")            # CheckRule(warn=3.5, alert=5.0, min_samples=50, ...)

Each check's rule says what its statistic must reach for "warn" and "alert",
the effect size it must also show (min_ratio, min_delta), the minimum sample
below which it reports "ok", and how its alerts are deduplicated (the scope
keys that make two findings the same alert) and rate-limited (cooldown).
Check-specific knobs (floor_quantile, latency_ratio, ...) sit beside them.

Left out: per-tenant thresholds (a tenant is part of the dedup key, not of
the rule) and reloading the file while `dayshift monitor watch` runs.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from statistics import NormalDist
from typing import Any

from dayshift.errors import ConfigError
from dayshift.monitor.findings import Status

__all__ = ["SCOPE_KEYS", "CheckRule", "LatencyObjective", "Rules", "load_rules", "parse_rules", "with_slo"]

SCOPE_KEYS = ("check", "tenant", "route", "prompt_version", "model")  # what a dedup key may be made of
_COMMON = {"warn", "alert", "min_ratio", "min_delta", "max_p", "min_samples", "dedup", "cooldown_minutes", "enabled"}


@dataclass(frozen=True, slots=True)
class CheckRule:
    check: str
    warn: float  # the statistic at which the finding is "warn"
    alert: float  # ... and "alert"
    min_samples: int = 30  # fewer samples than this: "ok", and says so
    min_ratio: float = 1.0  # the value must also be at least min_ratio x its baseline
    min_delta: float = 0.0  # ... and at least min_delta above it
    max_p: float = 1.0  # distribution checks: the KS p-value must be at most this as well
    dedup: tuple[str, ...] = ("check", "tenant")
    cooldown_s: float = 6 * 3600.0
    enabled: bool = True
    options: dict[str, float] = field(default_factory=dict)  # check-specific knobs

    def option(self, name: str, default: float) -> float:
        return float(self.options.get(name, default))

    def grade(self, statistic: float, *, effect: bool = True) -> Status:
        """The status a statistic earns; an effect below min_ratio/min_delta (effect=False) is "ok"."""
        if not effect or math.isnan(statistic):  # NaN: nothing to judge
            return "ok"
        if statistic >= self.alert:
            return "alert"
        return "warn" if statistic >= self.warn else "ok"

    def grade_z(self, z: float, *, hours: float, effect: bool = True) -> Status:
        """The status of a z statistic from a window `hours` long.

        warn and alert are set for a 1-hour window. A window k hours long has k times fewer
        independent chances a week to cross them, so its thresholds are the z of a p-value k
        times larger: the chance of a false alert per week stays the same (alert z 5 for an hour
        is 4.35 for a day, 5.2 for 15 minutes).
        """
        if not effect or math.isnan(z):
            return "ok"
        scale = max(hours, 1e-3)
        if z >= _z_for(self.alert, scale):
            return "alert"
        return "warn" if z >= _z_for(self.warn, scale) else "ok"

    def large_enough(self, value: float, baseline: float) -> bool:
        """Whether value exceeds baseline by the effect-size floors."""
        return value >= baseline * self.min_ratio and value - baseline >= self.min_delta


@dataclass(frozen=True, slots=True)
class LatencyObjective:
    """A route's latency SLO: p50 and p99 under these (settings [monitor.slo]); None: not checked."""

    route: str
    p50_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Rules:
    checks: dict[str, CheckRule]
    reference_days: int = 7
    min_reference_periods: int = 3
    notify: Status = "alert"
    runbook_base_url: str = ""
    webhook_timeout_s: float = 5.0
    webhook_retries: int = 3
    close_after_s: float = 7200.0  # an open alert whose condition is not seen for this long is closed
    daily_budget_usd: float = 0.0
    tenant_budgets_usd: dict[str, float] = field(default_factory=dict)
    latency_slo: tuple[LatencyObjective, ...] = ()  # from settings: with_slo(rules, settings.monitor.slo)

    def check(self, name: str) -> CheckRule:
        try:
            return self.checks[name]
        except KeyError:
            raise ConfigError(
                f'the rules have no [checks.{name}]: add it to your rules file, or start from the shipped '
                "dayshift/monitor/rules.toml"
            ) from None


def with_slo(rules: Rules, slo: dict[str, Any]) -> Rules:
    """`rules` with the latency objectives of settings.monitor.slo ({route: RouteSLO}) for the latency check."""
    from dataclasses import replace

    objectives = tuple(LatencyObjective(route, s.p50_ms, s.p99_ms) for route, s in sorted(slo.items()))
    return replace(rules, latency_slo=objectives)


def _z_for(z: float, scale: float) -> float:
    """The z whose one-sided p-value is `scale` times that of z."""
    if scale == 1.0:
        return z  # exactly: the round trip through the p-value is off in the last digits
    tail = _NORMAL.cdf(-z)
    if tail == 0.0:  # z beyond ~37 (a bar set out of reach on purpose): the tail's log is what scales
        return math.sqrt(max(z * z - 2 * math.log(scale), 0.0))
    return -_NORMAL.inv_cdf(min(0.5, tail * scale))


_NORMAL = NormalDist()


def load_rules(path: Path | None = None) -> Rules:
    """The shipped rules, with `path`'s values (if given) laid over them key by key."""
    shipped = tomllib.loads(resources.files("dayshift.monitor").joinpath("rules.toml").read_text(encoding="utf-8"))
    if path is None:
        return parse_rules(shipped)
    try:
        mine = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no rules file at {path}: fix the path, or leave it out to use the shipped rules") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}): fix the line it names") from exc
    return parse_rules(_merge(shipped, mine), source=str(path))


def parse_rules(data: dict[str, Any], *, source: str = "rules.toml") -> Rules:
    monitor, alerts, budget = data.get("monitor", {}), data.get("alerts", {}), data.get("budget", {})
    notify = alerts.get("notify", "alert")
    if notify not in ("warn", "alert"):
        raise ConfigError(f'{source}: [alerts] notify must be "warn" or "alert", got {notify!r}')
    checks = {name: _check(name, body, source) for name, body in data.get("checks", {}).items()}
    tenants = {str(k): float(v) for k, v in budget.get("tenants", {}).items()}
    return Rules(
        checks=checks,
        reference_days=_positive_int(monitor.get("reference_days", 7), "[monitor] reference_days", source),
        min_reference_periods=_positive_int(monitor.get("min_reference_periods", 3),
                                            "[monitor] min_reference_periods", source),
        notify=notify,
        runbook_base_url=str(alerts.get("runbook_base_url", "")),
        webhook_timeout_s=float(alerts.get("timeout_s", 5.0)),
        webhook_retries=int(alerts.get("retries", 3)),
        close_after_s=60.0 * float(alerts.get("close_after_minutes", 120)),
        daily_budget_usd=float(budget.get("daily_usd", 0.0)),
        tenant_budgets_usd=tenants,
    )


def _check(name: str, body: dict[str, Any], source: str) -> CheckRule:
    where = f"{source}: [checks.{name}]"
    for key in ("warn", "alert"):
        if not isinstance(body.get(key), int | float):
            raise ConfigError(f"{where} needs a number for {key!r}")
    if body["alert"] < body["warn"]:
        raise ConfigError(f"{where}: alert ({body['alert']}) must not be below warn ({body['warn']})")
    dedup = tuple(body.get("dedup", ("check", "tenant")))
    unknown = [k for k in dedup if k not in SCOPE_KEYS]
    if unknown:
        raise ConfigError(f"{where}: dedup keys {unknown} are not among {list(SCOPE_KEYS)}")
    options = {k: float(v) for k, v in body.items() if k not in _COMMON}
    return CheckRule(
        check=name, warn=float(body["warn"]), alert=float(body["alert"]),
        min_samples=_positive_int(body.get("min_samples", 30), f"[checks.{name}] min_samples", source),
        min_ratio=float(body.get("min_ratio", 1.0)), min_delta=float(body.get("min_delta", 0.0)),
        max_p=float(body.get("max_p", 1.0)), dedup=dedup,
        cooldown_s=60.0 * float(body.get("cooldown_minutes", 360)), enabled=bool(body.get("enabled", True)),
        options=options,
    )


def _positive_int(value: Any, what: str, source: str) -> int:
    if not isinstance(value, int) or value < 1:
        raise ConfigError(f"{source}: {what} must be a whole number of at least 1, got {value!r}")
    return value


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged
