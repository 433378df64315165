"""dayshift.migrations: versions recorded per component, applied in order once, newer databases refused."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from dayshift.errors import ConfigError
from dayshift.migrations import Migration, baseline, migrate_sqlite, recorded
from dayshift.sqlite import open_database

V1 = baseline("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
V2 = (*V1, Migration(2, "notes get a tag", "ALTER TABLE notes ADD COLUMN tag TEXT NOT NULL DEFAULT ''; "
                                            "CREATE INDEX notes_tag ON notes (tag)"))


def test_an_unversioned_database_is_stamped_and_keeps_its_rows(tmp_path: Path) -> None:
    db = open_database(tmp_path / "old.sqlite")
    db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")  # as an older release left it
    db.execute("INSERT INTO notes (text) VALUES ('kept')")
    assert recorded(db) == {}
    assert migrate_sqlite(db, "notes", V1) == 1
    assert recorded(db) == {"notes": 1} and db.execute("SELECT text FROM notes").fetchall() == [("kept",)]
    assert migrate_sqlite(db, "notes", V1) == 1  # a second open changes nothing
    assert db.execute("SELECT COUNT(*) FROM schema_migrations").fetchone() == (1,)


def test_a_new_version_is_applied_once_in_order(tmp_path: Path) -> None:
    db = open_database(tmp_path / "n.sqlite")
    migrate_sqlite(db, "notes", V1)
    db.execute("INSERT INTO notes (text) VALUES ('before')")
    assert migrate_sqlite(db, "notes", V2) == 2
    assert db.execute("SELECT text, tag FROM notes").fetchall() == [("before", "")]
    assert migrate_sqlite(db, "notes", V2) == 2 and recorded(db) == {"notes": 2}


def test_a_failed_migration_leaves_the_version_and_the_tables_as_they_were(tmp_path: Path) -> None:
    db = open_database(tmp_path / "f.sqlite")
    migrate_sqlite(db, "notes", V1)
    broken = (*V1, Migration(2, "broken", "ALTER TABLE notes ADD COLUMN tag TEXT; ALTER TABLE nope ADD COLUMN x"))
    with pytest.raises(sqlite3.OperationalError):
        migrate_sqlite(db, "notes", broken)
    assert recorded(db) == {"notes": 1}
    assert [r[1] for r in db.execute("PRAGMA table_info(notes)")] == ["id", "text"]


def test_a_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    db = open_database(tmp_path / "new.sqlite")
    migrate_sqlite(db, "notes", V2)
    with pytest.raises(ConfigError, match="schema version 2, written by a newer dayshift"):
        migrate_sqlite(db, "notes", V1, where="new.sqlite")


def test_two_processes_opening_at_once_apply_each_version_once(tmp_path: Path) -> None:
    path, errors = tmp_path / "race.sqlite", []

    def open_and_migrate() -> None:
        try:
            migrate_sqlite(open_database(path), "notes", V2)
        except Exception as exc:  # noqa: BLE001 - collected for the assert
            errors.append(exc)

    threads = [threading.Thread(target=open_and_migrate) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert open_database(path).execute("SELECT version FROM schema_migrations ORDER BY version").fetchall() == \
        [(1,), (2,)]


def test_migrations_must_be_numbered_from_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="numbered 1, 2"):
        migrate_sqlite(open_database(tmp_path / "x.sqlite"), "notes", (Migration(2, "x", "SELECT 1"),))
