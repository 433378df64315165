"""Entry-point discovery: the built-ins declared in pyproject.toml, a third-party distribution made on the
fly, the errors users see, and loader_for() by file extension."""

from __future__ import annotations

import importlib
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from dayshift import plugins
from dayshift.errors import PluginError
from dayshift.ingest.loaders import loader_for, supported_extensions
from dayshift.ingest.loaders.html import HtmlLoader
from dayshift.ingest.loaders.markdown import MarkdownLoader
from dayshift.ingest.loaders.mediawiki import MediaWikiLoader
from dayshift.ingest.loaders.pdf import PdfLoader
from dayshift.ingest.loaders.sqlite import SqliteLoader
from dayshift.ingest.loaders.tabular import CsvLoader, JsonlLoader
from dayshift.ingest.loaders.text import TextLoader

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
GROUPS = ("embedders", "stores", "rerankers", "loaders")


def declared() -> dict[str, dict[str, str]]:
    """group -> {name: "module:attr"} from pyproject.toml."""
    points = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["entry-points"]
    return {group: dict(points[f"dayshift.{group}"]) for group in GROUPS}


def test_pyproject_declares_the_expected_builtins() -> None:
    assert {g: sorted(names) for g, names in declared().items()} == {
        "embedders": ["local", "openai"],
        "stores": ["embedded", "postgres", "qdrant"],
        "rerankers": ["cross-encoder", "http", "registry"],
        "loaders": ["csv", "html", "jsonl", "markdown", "mediawiki", "pdf", "sqlite", "text"],
    }


@pytest.mark.parametrize("group", GROUPS)
def test_every_builtin_is_registered_and_loads_its_declared_object(group: str) -> None:
    wanted = declared()[group]
    assert set(wanted) <= set(plugins.available(group))  # type: ignore[arg-type]
    assert plugins.available(group) == sorted(plugins.available(group))  # type: ignore[arg-type]
    for name, target in wanted.items():
        module, attr = target.split(":")
        assert plugins.load(group, name) is getattr(importlib.import_module(module), attr)  # type: ignore[arg-type]


def test_unknown_name_lists_the_registered_ones() -> None:
    with pytest.raises(PluginError) as info:
        plugins.load("stores", "milvus")
    message = str(info.value)
    assert 'no store named "milvus"' in message
    assert "(registered: embedded, postgres, qdrant)" in message
    assert "pip install -e ." in message
    with pytest.raises(PluginError, match=r"registered: cross-encoder, http, registry\)"):
        plugins.load("rerankers", "colbert")


# -- a third-party distribution, made on the fly ---------------------------------------------------


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tmp_path/fake_plugin/ + fake_plugin-0.1.dist-info/ declaring stores `fake` and `needs-extra`."""
    package = tmp_path / "fake_plugin"
    package.mkdir()
    (package / "__init__.py").write_text("class FakeStore:\n    backend = 'fake'\n")
    (package / "heavy.py").write_text("import fake_vendor_sdk_not_installed\n\nclass HeavyStore:\n    pass\n")
    info = tmp_path / "fake_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[dayshift.stores]\nfake = fake_plugin:FakeStore\nneeds-extra = fake_plugin.heavy:HeavyStore\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins._entry_points.cache_clear()
    yield tmp_path
    monkeypatch.undo()  # sys.path first, so the cache refills without the fake distribution
    for name in [m for m in sys.modules if m == "fake_plugin" or m.startswith("fake_plugin.")]:
        del sys.modules[name]
    plugins._entry_points.cache_clear()


def test_third_party_plugin_registers_like_a_builtin(fake_distribution: Path) -> None:
    assert plugins.available("stores") == ["embedded", "fake", "needs-extra", "postgres", "qdrant"]
    factory = plugins.load("stores", "fake")
    assert factory.__name__ == "FakeStore" and factory.__module__ == "fake_plugin"
    assert factory().backend == "fake"
    assert Path(sys.modules["fake_plugin"].__file__).parent == fake_distribution / "fake_plugin"


def test_plugin_with_a_missing_dependency_names_the_install_command(fake_distribution: Path) -> None:
    with pytest.raises(PluginError) as info:
        plugins.load("stores", "needs-extra")
    message = str(info.value)
    assert 'the store "needs-extra" needs a missing dependency (fake_vendor_sdk_not_installed)' in message
    assert "pip install fake_vendor_sdk_not_installed" in message
    assert isinstance(info.value.__cause__, ImportError)


def test_entry_point_cache_forgets_the_fake_distribution_afterwards() -> None:
    plugins._entry_points.cache_clear()
    assert "fake" not in plugins.available("stores")


def test_missing_dependency_of_a_builtin_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dayshift.retrieve.rerank_cross_encoder", None)  # import now fails
    with pytest.raises(PluginError) as info:
        plugins.load("rerankers", "cross-encoder")
    message = str(info.value)
    assert 'the reranker "cross-encoder" needs a missing dependency (dayshift.retrieve.rerank_cross_encoder)' in message
    assert '"dayshift[' not in message  # never an extra that may not exist


# -- loaders by extension --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("guide.pdf", PdfLoader),
        ("README.md", MarkdownLoader),
        ("page.html", HtmlLoader),
        ("dump.xml", MediaWikiLoader),
        ("enwiki-pages.xml.bz2", MediaWikiLoader),
        ("table.csv", CsvLoader),
        ("table.tsv", CsvLoader),
        ("rows.jsonl", JsonlLoader),
        ("catalog.sqlite", SqliteLoader),
        ("notes.txt", TextLoader),
        ("SHOUTING.PDF", PdfLoader),
    ],
)
def test_loader_for_picks_the_loader_by_extension(name: str, cls: type) -> None:
    loader = loader_for(Path("docs") / name)
    assert type(loader) is cls
    assert Path(name).suffix.lower() in loader.extensions


@pytest.mark.parametrize("name", ["diagram.png", "Makefile", "archive.tar.gz", "notes.md.bak"])
def test_loader_for_returns_none_for_unsupported_files(name: str) -> None:
    assert loader_for(Path(name)) is None


def test_supported_extensions_are_the_union_of_the_loaders() -> None:
    expected = sorted(
        {ext for cls in (PdfLoader, MarkdownLoader, HtmlLoader, MediaWikiLoader, CsvLoader, JsonlLoader,
                         SqliteLoader, TextLoader) for ext in cls.extensions}
    )  # fmt: skip
    assert supported_extensions() == expected
    assert {".pdf", ".md", ".html", ".xml", ".bz2", ".csv", ".tsv", ".jsonl", ".sqlite", ".txt"} <= set(expected)
