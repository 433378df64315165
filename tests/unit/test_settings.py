"""load_settings(): defaults, DAYSHIFT_* variables, dayshift.toml, an explicit config file, and errors."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest

from dayshift.embed.local import LocalEmbedder
from dayshift.errors import ConfigError
from dayshift.settings import DEFAULT_EXCLUDES, Settings, load_settings

DEFAULT_BATCH = Settings.model_fields["embed"].default_factory().batch_size  # type: ignore[misc]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No DAYSHIFT_* variable from the caller, and an empty working directory (no dayshift.toml)."""
    for name in list(os.environ):
        if name.upper().startswith("DAYSHIFT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = load_settings()
    assert isinstance(s, Settings)
    assert s.data_dir == Path(".dayshift")
    assert (s.ingest.chunk_tokens, s.ingest.chunk_overlap_tokens, s.ingest.max_file_mb) == (256, 32, 100.0)
    assert s.ingest.exclude == list(DEFAULT_EXCLUDES) and s.ingest.near_duplicate_threshold == 0.8
    assert s.ingest.text_columns is None and s.ingest.tables is None
    assert (s.embed.backend, s.embed.runtime, s.embed.precision, s.embed.threads) == ("local", "auto", "auto", None)
    # the settings default is the bundled embedder's own default
    assert s.embed.batch_size == inspect.signature(LocalEmbedder).parameters["batch_size"].default
    assert (s.store.backend, s.store.url) == ("embedded", None)
    r = s.retrieve
    assert (r.mode, r.fusion, r.rrf_k, r.dense_weight, r.candidates, r.rerank, r.rerank_candidates) == (
        "hybrid", "weighted", 60, 0.5, 100, None, 50,
    )  # fmt: skip


def test_environment_overrides_with_nested_delimiter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAYSHIFT_EMBED__BATCH_SIZE", "64")
    monkeypatch.setenv("DAYSHIFT_INGEST__CHUNK_TOKENS", "512")
    monkeypatch.setenv("DAYSHIFT_RETRIEVE__MODE", "dense")
    monkeypatch.setenv("DAYSHIFT_DATA_DIR", "/srv/index")
    monkeypatch.setenv("DAYSHIFT_INGEST__EXCLUDE", '["*.log", "tmp"]')
    s = load_settings()
    assert (s.embed.batch_size, s.ingest.chunk_tokens, s.retrieve.mode) == (64, 512, "dense")
    assert s.data_dir == Path("/srv/index")
    assert s.ingest.exclude == ["*.log", "tmp"]
    assert s.ingest.chunk_overlap_tokens == 32 and s.embed.runtime == "auto"  # untouched siblings keep defaults


def test_dayshift_toml_in_the_working_directory(clean_environment: Path) -> None:
    write(
        clean_environment / "dayshift.toml",
        'data_dir = "idx"\n[ingest]\nchunk_tokens = 128\nchunk_overlap_tokens = 8\n'
        '[embed]\nruntime = "onnx"\n[retrieve]\nfusion = "weighted"\ndense_weight = 0.7\n',
    )
    s = load_settings()
    assert s.data_dir == Path("idx")
    assert (s.ingest.chunk_tokens, s.ingest.chunk_overlap_tokens) == (128, 8)
    assert (s.embed.runtime, s.embed.batch_size) == ("onnx", DEFAULT_BATCH)
    assert (s.retrieve.fusion, s.retrieve.dense_weight) == ("weighted", 0.7)


def test_explicit_config_file_is_read_instead_of_the_working_directory_one(clean_environment: Path) -> None:
    write(clean_environment / "dayshift.toml", 'data_dir = "cwd"\n[embed]\nbatch_size = 8\n')
    (clean_environment / "conf").mkdir()
    other = write(clean_environment / "conf" / "prod.toml", "[ingest]\nchunk_tokens = 64\nchunk_overlap_tokens = 0\n")
    s = load_settings(config_file=other)
    assert (s.ingest.chunk_tokens, s.ingest.chunk_overlap_tokens) == (64, 0)
    assert s.data_dir == Path(".dayshift") and s.embed.batch_size == DEFAULT_BATCH  # nothing from ./dayshift.toml


def test_precedence_kwargs_over_environment_over_file(monkeypatch: pytest.MonkeyPatch, clean_environment: Path) -> None:
    config = write(
        clean_environment / "dayshift.toml",
        '[embed]\nbatch_size = 8\nruntime = "onnx"\nthreads = 2\n[ingest]\nchunk_tokens = 128\n',
    )
    monkeypatch.setenv("DAYSHIFT_EMBED__BATCH_SIZE", "16")
    monkeypatch.setenv("DAYSHIFT_EMBED__THREADS", "3")
    for s in (load_settings(embed={"threads": 4}), load_settings(config_file=config, embed={"threads": 4})):
        assert s.embed.threads == 4  # kwargs beat env and file
        assert s.embed.batch_size == 16  # env beats file
        assert s.embed.runtime == "onnx"  # the file beats defaults, merged key by key
        assert s.ingest.chunk_tokens == 128


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ingest": {"chunk_overlap_tokens": 256}}, "chunk_overlap_tokens (256) must be below chunk_tokens (256)"),
        ({"ingest": {"chunk_tokens": 8}}, "ingest.chunk_tokens"),
        ({"ingest": {"max_file_mb": 0}}, "ingest.max_file_mb"),
        ({"embed": {"batch_size": 0}}, "embed.batch_size"),
        ({"embed": {"runtime": "gpu"}}, "embed.runtime"),
        ({"retrieve": {"dense_weight": 1.5}}, "retrieve.dense_weight"),
        ({"retrieve": {"mode": "semantic"}}, "retrieve.mode"),
    ],
)
def test_invalid_values_raise_config_error_naming_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    assert field in str(info.value)
    assert "DAYSHIFT_*" in str(info.value)  # says where to fix it


def test_invalid_value_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAYSHIFT_INGEST__CHUNK_TOKENS", "lots")
    with pytest.raises(ConfigError, match=r"ingest\.chunk_tokens"):
        load_settings()


def test_invalid_value_from_a_config_file(clean_environment: Path) -> None:
    config = write(clean_environment / "bad.toml", "[ingest]\nchunk_tokens = 100\nchunk_overlap_tokens = 100\n")
    with pytest.raises(ConfigError, match=r"chunk_overlap_tokens \(100\) must be below chunk_tokens \(100\)"):
        load_settings(config_file=config)


def test_unknown_top_level_keys_are_rejected(clean_environment: Path) -> None:
    with pytest.raises(ConfigError, match="bogus: Extra inputs are not permitted"):
        load_settings(bogus=1)
    config = write(clean_environment / "typo.toml", 'data_dri = "x"\n')
    with pytest.raises(ConfigError, match="data_dri"):
        load_settings(config_file=config)
    write(clean_environment / "dayshift.toml", "[retreive]\nmode = 'dense'\n")
    with pytest.raises(ConfigError, match="retreive"):
        load_settings()


def test_unknown_nested_keys_are_rejected(clean_environment: Path) -> None:
    write(clean_environment / "dayshift.toml", "[ingest]\nchunk_tokenz = 64\n")
    with pytest.raises(ConfigError, match="chunk_tokenz"):
        load_settings()


def test_missing_config_file_is_named(clean_environment: Path) -> None:
    missing = clean_environment / "nowhere" / "dayshift.toml"
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=missing)
    assert str(missing) in str(info.value) and "not found" in str(info.value)


def test_kwargs_only_build_without_a_file() -> None:
    s = load_settings(data_dir="/tmp/x", retrieve={"rerank": "http", "rerank_url": "http://localhost:9"})
    assert s.data_dir == Path("/tmp/x")
    assert (s.retrieve.rerank, s.retrieve.rerank_url, s.retrieve.rerank_candidates) == (
        "http", "http://localhost:9", 50,
    )  # fmt: skip


# -- one database -------------------------------------------------------------


def test_without_database_url_everything_stays_in_files() -> None:
    s = load_settings()
    assert (s.database.url, s.store.backend, s.store.url, s.trace.url) == (None, "embedded", None, None)


def test_database_url_is_the_store_and_trace_database_unless_they_name_their_own(
    monkeypatch: pytest.MonkeyPatch, clean_environment: Path
) -> None:
    monkeypatch.setenv("DAYSHIFT_DATABASE__URL", "postgresql://app:pw@db/dayshift")
    s = load_settings()
    assert (s.store.backend, s.store.url, s.trace.url) == ("postgres", "postgresql://app:pw@db/dayshift",
                                                           "postgresql://app:pw@db/dayshift")  # fmt: skip
    assert "pw" not in repr(s)
    config = write(clean_environment / "own.toml", '[store]\nurl = "postgresql://vectors/db"\n'
                                                    '[trace]\nurl = "sqlite:////tmp/traces.sqlite"\n')  # fmt: skip
    own = load_settings(config)
    assert (own.store.backend, own.store.url, own.trace.url) == (
        "postgres", "postgresql://vectors/db", "sqlite:////tmp/traces.sqlite"
    )
    qdrant = load_settings(store={"backend": "qdrant", "url": "http://qdrant:6333"})
    assert (qdrant.store.backend, qdrant.store.url) == ("qdrant", "http://qdrant:6333")


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"database": {"url": "mysql://db/x"}}, "must be a Postgres URL"),
        ({"database": {"url": "postgresql://db/x"}, "store": {"backend": "embedded"}}, "leave store.backend unset"),
    ],
)
def test_a_database_url_that_cannot_hold_everything_is_refused(overrides: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings(**overrides)
