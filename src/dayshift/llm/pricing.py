"""Prices: model -> USD per million input and output tokens, from a TOML file.

    [models."gpt-4o-mini"]
    input_usd_per_mtok = 0.15
    output_usd_per_mtok = 0.60
    aliases = ["gpt-4o-mini-2024-07-18"]

The shipped table is llm/prices.toml; `llm.prices_file` replaces it. Lookup
ignores case and tries the exact name, an alias, the name without a dated
suffix, then the part after the last "/". Left out: cached-input, batch and
tiered prices (a model has one input and one output price).
"""

from __future__ import annotations

import importlib.resources
import logging
import math
import re
import threading
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dayshift.errors import ConfigError
from dayshift.llm.base import Usage

log = logging.getLogger(__name__)

PRICES_SETTING = "DAYSHIFT_LLM__PRICES_FILE"
_PRICE_FIELDS = ("input_usd_per_mtok", "output_usd_per_mtok")
# "-2024-07-18", "-20250514", "-0125", "-latest": snapshot names of one priced model
_DATED_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest)$")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    model: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float

    def cost_usd(self, usage: Usage) -> float:
        return (usage.input_tokens * self.input_usd_per_mtok + usage.output_tokens * self.output_usd_per_mtok) / 1e6


class PriceTable:
    """Prices by model name, looked up case-insensitively (see `price_for`)."""

    def __init__(
        self, prices: Mapping[str, ModelPrice], *, aliases: Mapping[str, str] | None = None, source: str = "<memory>"
    ) -> None:
        self._prices = {name.lower(): price for name, price in prices.items()}
        self._aliases = {alias.lower(): model.lower() for alias, model in (aliases or {}).items()}
        self.source = source
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path | None = None) -> PriceTable:
        """Read a price file; None reads the one shipped with dayshift."""
        if path is None:
            text = (importlib.resources.files("dayshift.llm") / "prices.toml").read_text(encoding="utf-8")
            return cls.parse(text, source="dayshift/llm/prices.toml (shipped)")
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"price file {path} cannot be read ({exc}): point {PRICES_SETTING} at a readable UTF-8 TOML file"
            ) from exc
        return cls.parse(text, source=str(path))

    @classmethod
    def parse(cls, text: str, *, source: str) -> PriceTable:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"price file {source} is not valid TOML ({exc}): fix the file or {PRICES_SETTING}") from exc
        models = data.get("models")
        if set(data) - {"models"} or not isinstance(models, dict) or not models:
            raise ConfigError(
                f'price file {source} must hold only [models."NAME"] tables: add one per model, e.g. '
                '[models."gpt-4o-mini"] with input_usd_per_mtok = 0.15 and output_usd_per_mtok = 0.60'
            )
        prices: dict[str, ModelPrice] = {}
        owner: dict[str, str] = {}  # lower-cased name or alias -> the model that claimed it
        aliases: dict[str, str] = {}
        for name, entry in models.items():
            price, names = _parse_entry(source, name, entry)
            prices[name] = price
            for claimed in (name, *names):
                other = owner.setdefault(claimed.lower(), name)
                if other != name:
                    raise ConfigError(
                        f'price file {source}, model "{name}": name or alias "{claimed}" is already used by '
                        f'model "{other}"; give each name to one model only'
                    )
            aliases.update({alias: name for alias in names})
        return cls(prices, aliases=aliases, source=source)

    @property
    def models(self) -> list[str]:
        return sorted(price.model for price in self._prices.values())

    def price_for(self, model: str) -> ModelPrice | None:
        """Exact name, alias, name less a dated suffix, then the part after the last "/"."""
        for candidate in _candidates(model):
            price = self._prices.get(self._aliases.get(candidate, candidate))
            if price is not None:
                return price
        return None

    def cost_known(self, model: str) -> bool:
        return self.price_for(model) is not None

    def cost_usd(self, model: str, usage: Usage) -> float:
        """What `usage` of `model` costs; $0, with one warning per model, when it has no price."""
        price = self.price_for(model)
        if price is None:
            self._warn_unpriced(model)
            return 0.0
        return price.cost_usd(usage)

    def _warn_unpriced(self, model: str) -> None:
        with self._lock:
            if model in self._warned:
                return
            self._warned.add(model)
        log.warning(
            'no price for model "%s" in %s, so its calls are booked at $0: add [models."%s"] with '
            "input_usd_per_mtok and output_usd_per_mtok to a price file and point %s at it "
            "(start from a copy of the shipped llm/prices.toml)",
            model, self.source, model, PRICES_SETTING,
        )


def _candidates(model: str) -> Iterator[str]:
    name = model.strip().lower()
    tail = name.rsplit("/", 1)[-1]
    seen: set[str] = set()
    for candidate in (name, _DATED_SUFFIX.sub("", name), tail, _DATED_SUFFIX.sub("", tail)):
        if candidate and candidate not in seen:
            seen.add(candidate)
            yield candidate


def _parse_entry(source: str, name: str, entry: Any) -> tuple[ModelPrice, list[str]]:
    where = f'price file {source}, model "{name}"'
    if not isinstance(entry, dict):
        raise ConfigError(f'{where}: expected a table [models."{name}"] with input_usd_per_mtok and output_usd_per_mtok')
    unknown = sorted(set(entry) - {*_PRICE_FIELDS, "aliases"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown field {', '.join(unknown)}; the fields are input_usd_per_mtok, "
            "output_usd_per_mtok and aliases"
        )
    values: list[float] = []
    for field in _PRICE_FIELDS:
        if field not in entry:
            raise ConfigError(f"{where}: missing field {field}: add {field} = <USD per million tokens>, e.g. 0.0")
        value = entry[field]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"{where}: field {field} must be a number >= 0 (USD per million tokens), not {value!r}")
        values.append(float(value))
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise ConfigError(f'{where}: field aliases must be a list of model names, e.g. aliases = ["{name}-2024-07-18"]')
    return ModelPrice(name, values[0], values[1]), aliases


# -- the ledger ---------------------------------------------------------------
