"""CSV, JSONL and SQLite loaders on real exports (beer.stackexchange posts, chinook)
and on small malformed files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from dayshift.errors import EmptyFileError, EncodingError, MalformedFileError
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.ingest.loaders.sqlite import SqliteLoader
from dayshift.ingest.loaders.tabular import CsvLoader, JsonlLoader, plan_columns, read_csv_rows
from dayshift.types import Document

POSTS_ROWS = 2354
EMPTY_POSTS = 28  # tag-wiki rows (PostTypeId 4 and 5) with neither title nor body


def _key(doc: Document) -> str:
    return doc.doc_id.rsplit("#", 1)[1].removeprefix("posts/")


@pytest.fixture(scope="module")
def posts_csv(tabular_dir: Path) -> Path:
    return tabular_dir / "beer_stackexchange" / "posts.csv"


@pytest.fixture(scope="module")
def csv_docs(posts_csv: Path) -> tuple[list[Document], CsvLoader]:
    loader = CsvLoader()
    return list(loader.load(posts_csv, source="beer/posts.csv", options=LoadOptions())), loader


@pytest.fixture(scope="module")
def sqlite_docs(tabular_dir: Path) -> tuple[list[Document], SqliteLoader]:
    loader = SqliteLoader()
    path = tabular_dir / "beer_stackexchange" / "posts.sqlite"
    return list(loader.load(path, source="beer/posts.sqlite", options=LoadOptions())), loader


# --- real data --------------------------------------------------------------


def test_posts_csv_gives_one_document_per_row_with_text(csv_docs: tuple[list[Document], CsvLoader]) -> None:
    docs, loader = csv_docs
    assert len(docs) == POSTS_ROWS - EMPTY_POSTS
    assert loader.skipped_rows == EMPTY_POSTS
    first = docs[0]
    assert first.doc_id == "beer/posts.csv#1"
    assert first.title == "What is a citra hop, and how does it differ from other hops?"
    assert first.blocks[0].text.startswith("I was offered a beer")  # the title is not repeated as text
    assert first.metadata["Score"] == 18 and first.metadata["Tags"] == "<hops>"
    assert first.metadata["CreationDate"] == "2014-01-21T20:26:05.383"
    assert "ClosedDate" not in first.metadata  # empty values are dropped


def test_default_columns_are_title_as_title_and_body_as_text(posts_csv: Path) -> None:
    header, rows = read_csv_rows(posts_csv)
    assert len(rows) == POSTS_ROWS
    plan = plan_columns(header, rows[:1000], options=LoadOptions(), path=posts_csv)
    assert plan.id_column == "Id" and plan.title_column == "Title"
    assert plan.text_columns == ("Body",)
    assert {"Score", "Tags", "ViewCount", "CreationDate", "PostTypeId"} <= set(plan.metadata_columns)
    assert not {"Id", "Title", "Body"} & set(plan.metadata_columns)
    assert not plan.key_values


def test_sqlite_posts_match_the_csv_export(
    csv_docs: tuple[list[Document], CsvLoader], sqlite_docs: tuple[list[Document], SqliteLoader]
) -> None:
    from_csv, from_db = csv_docs[0], sqlite_docs[0]
    assert len(from_db) == POSTS_ROWS - EMPTY_POSTS and sqlite_docs[1].skipped_rows == EMPTY_POSTS
    assert from_db[0].doc_id == "beer/posts.sqlite#posts/1"
    assert {_key(d): d.text for d in from_csv} == {_key(d): d.text for d in from_db}
    assert {_key(d): d.title for d in from_csv} == {_key(d): d.title for d in from_db}
    db_meta = {k: v for k, v in from_db[0].metadata.items() if k != "table"}
    assert from_db[0].metadata["table"] == "posts" and db_meta == from_csv[0].metadata


def test_html_in_cells_is_reduced_to_plain_text(csv_docs: tuple[list[Document], CsvLoader]) -> None:
    docs = csv_docs[0]
    assert not any("<p>" in d.text or "</p>" in d.text or "&amp;" in d.text or "&#39;" in d.text for d in docs)
    by_key = {_key(d): d for d in docs}
    assert "I was offered a beer the other day" in by_key["1"].text
    assert "a blend of the 60 & 90 varieties" in by_key["235"].text  # "60 &amp; 90" in the cell
    assert "threshold (<20 ppm)" in by_key["1086"].text  # "&lt;20" in the cell
    # Titles are plain text already: a bare "&" stays.
    assert any("&" in d.title for d in docs)


def test_explicit_columns_are_used(posts_csv: Path) -> None:
    options = LoadOptions(text_columns=("Body",), metadata_columns=("Score", "Tags"), title_column="Title")
    docs = list(CsvLoader().load(posts_csv, source="posts.csv", options=options))
    assert len(docs) == POSTS_ROWS - EMPTY_POSTS
    assert all(len(d.blocks) == 1 and set(d.metadata) <= {"Score", "Tags"} for d in docs)
    assert docs[0].title.startswith("What is a citra hop") and not docs[0].text.startswith("What is")
    answer = next(d for d in docs if d.metadata.get("Tags") is None)
    assert answer.title == f"posts #{_key(answer)}"  # answers have no title: fallback


def test_chinook_tracks_are_searchable_by_name(tabular_dir: Path) -> None:
    path = tabular_dir / "chinook.sqlite"
    docs = list(SqliteLoader().load(path, source="chinook.sqlite", options=LoadOptions(tables=("Track",))))
    assert len(docs) == 3503
    first = docs[0]
    assert first.doc_id == "chinook.sqlite#Track/1"
    assert first.title == "For Those About To Rock (We Salute You)"
    assert first.text.startswith("Name: For Those About To Rock (We Salute You)\nComposer: Angus Young")
    assert first.metadata["Milliseconds"] == 343719 and first.metadata["UnitPrice"] == 0.99
    assert all(d.title in d.text for d in docs)


def test_chinook_all_tables(tabular_dir: Path) -> None:
    loader = SqliteLoader()
    docs = list(loader.load(tabular_dir / "chinook.sqlite", source="chinook.sqlite", options=LoadOptions()))
    per_table: dict[str, int] = {}
    for doc in docs:
        per_table[str(doc.metadata["table"])] = per_table.get(str(doc.metadata["table"]), 0) + 1
    assert per_table == {
        "Album": 347,
        "Artist": 275,
        "Customer": 59,
        "Employee": 8,
        "Genre": 25,
        "Invoice": 412,
        "MediaType": 5,
        "Playlist": 18,
        "Track": 3503,
    }
    assert sorted(loader.skipped_tables) == ["InvoiceLine", "PlaylistTrack"]  # ids only
    customer = next(d for d in docs if d.doc_id == "chinook.sqlite#Customer/1")
    assert "FirstName: Luís" in customer.text and customer.metadata["SupportRepId"] == 3


def test_jsonl_made_from_the_csv_rows_loads_the_same(
    posts_csv: Path, tmp_path: Path, csv_docs: tuple[list[Document], CsvLoader]
) -> None:
    _, rows = read_csv_rows(posts_csv)
    path = tmp_path / "posts.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            record = {k: (int(v) if k.endswith(("Id", "Count", "Score")) and v else v or None) for k, v in row.items()}
            out.write(json.dumps(record) + "\n")
    loader = JsonlLoader()
    docs = list(loader.load(path, source="posts.jsonl", options=LoadOptions()))
    assert len(docs) == POSTS_ROWS - EMPTY_POSTS and loader.skipped_rows == EMPTY_POSTS
    assert {_key(d): d.text for d in docs} == {_key(d): d.text for d in csv_docs[0]}
    assert docs[0].metadata == csv_docs[0][0].metadata


# --- small and malformed files ----------------------------------------------


def _csv(tmp_path: Path, content: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_tsv_and_short_tables_fall_back_to_key_value_text(tmp_path: Path) -> None:
    path = _csv(tmp_path, "name\tcity\tzip\tpopulation\nAnna\tBoston\t02134\t650000\n\nBen\t\t\t\n", "p.tsv")
    loader = CsvLoader()
    docs = list(loader.load(path, source="p.tsv", options=LoadOptions()))
    assert [d.doc_id for d in docs] == ["p.tsv#1", "p.tsv#2"]  # no id column: row numbers
    assert docs[0].title == "Anna" and docs[0].text == "name: Anna\ncity: Boston\nzip: 02134"
    assert docs[0].metadata == {"population": 650000}
    assert docs[1].text == "name: Ben"


def test_missing_named_column_lists_the_available_ones(posts_csv: Path) -> None:
    options = LoadOptions(text_columns=("Body", "Content"))
    with pytest.raises(MalformedFileError) as err:
        list(CsvLoader().load(posts_csv, source="posts.csv", options=options))
    message = str(err.value)
    assert "'Content'" in message and "Body, OwnerUserId" in message and "'Body'" not in message


def test_missing_table_or_column_in_sqlite(tabular_dir: Path) -> None:
    path = tabular_dir / "chinook.sqlite"
    with pytest.raises(MalformedFileError, match=r"no table named 'Tracks'.*Track"):
        list(SqliteLoader().load(path, source="c", options=LoadOptions(tables=("Tracks",))))
    with pytest.raises(MalformedFileError, match="table 'Album': no column named 'Name'"):
        list(SqliteLoader().load(path, source="c", options=LoadOptions(text_columns=("Name",))))


def test_unbalanced_quote_names_the_line(tmp_path: Path) -> None:
    path = _csv(tmp_path, 'id,text\n1,"fine, quoted"\n2,"never closed\n3,more\n')
    with pytest.raises(MalformedFileError, match="line 3"):
        list(CsvLoader().load(path, source="t.csv", options=LoadOptions()))
    extra = _csv(tmp_path, "id,text\n1,one\n2,two,three\n", "extra.csv")
    with pytest.raises(MalformedFileError, match="line 3: 3 fields where the header has 2"):
        list(CsvLoader().load(extra, source="extra.csv", options=LoadOptions()))


def test_undecodable_csv_is_an_encoding_error_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,text\n1,fine\n2," + bytes(range(0x80, 0x100)) + b"\n")
    with pytest.raises(EncodingError, match="line 3"):
        list(CsvLoader().load(path, source="bad.csv", options=LoadOptions()))


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    path = _csv(tmp_path, "id,text\n1,a long enough sentence to count as free text here\n1,again\n")
    with pytest.raises(MalformedFileError, match="repeats the value '1'"):
        list(CsvLoader().load(path, source="t.csv", options=LoadOptions()))


def test_malformed_jsonl_line_fails_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": 1, "text": "ok"}\n\n{"id": 2, "text": "broken"\n{"id": 3}\n', encoding="utf-8")
    with pytest.raises(MalformedFileError, match="line 3: invalid JSON"):
        list(JsonlLoader().load(path, source="bad.jsonl", options=LoadOptions()))
    not_object = tmp_path / "list.jsonl"
    not_object.write_text('{"id": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(MalformedFileError, match="line 2: expected a JSON object"):
        list(JsonlLoader().load(not_object, source="list.jsonl", options=LoadOptions()))


def test_jsonl_nested_values_and_types(tmp_path: Path) -> None:
    path = tmp_path / "n.jsonl"
    rows = [
        {"_id": "a", "body": "Some free text about brewing a stout at home.", "tags": ["x"], "ok": True, "rating": 4.5}
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    [doc] = JsonlLoader().load(path, source="n.jsonl", options=LoadOptions())
    assert doc.doc_id == "n.jsonl#a" and doc.text == rows[0]["body"]
    assert doc.metadata == {"ok": True, "rating": 4.5}  # nested "tags" left out by default
    [named] = JsonlLoader().load(path, source="n.jsonl", options=LoadOptions(metadata_columns=("tags",)))
    assert named.metadata == {"tags": '["x"]'}


def test_not_sqlite_or_empty_sqlite(tmp_path: Path) -> None:
    fake = _csv(tmp_path, "id,text\n1,hello\n", "fake.sqlite")
    with pytest.raises(MalformedFileError, match="not an SQLite database"):
        list(SqliteLoader().load(fake, source="fake.sqlite", options=LoadOptions()))
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError):
        list(SqliteLoader().load(empty, source="empty.db", options=LoadOptions()))


def test_sqlite_without_primary_key_uses_rowid_and_is_opened_read_only(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (body TEXT, stars INTEGER)")
        db.executemany(
            "INSERT INTO notes VALUES (?, ?)",
            [("A note long enough to be free text, with <b>bold</b> markup.", 3), ("", 1)],
        )
    db.close()
    loader = SqliteLoader()
    docs = list(loader.load(path, source="notes.db", options=LoadOptions()))
    assert [d.doc_id for d in docs] == ["notes.db#notes/1"] and loader.skipped_rows == 1
    assert docs[0].text == "A note long enough to be free text, with bold markup."
    assert docs[0].metadata == {"stars": 3, "table": "notes"}
    assert not list(tmp_path.glob("notes.db-*"))  # no journal: nothing was written
