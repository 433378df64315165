"""TextLoader and read_text: paragraphs, titles, encodings and the files they refuse."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dayshift.errors import EmptyFileError, EncodingError, UnreadableFileError
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.ingest.loaders.text import TextLoader, read_text

FRENCH = (
    "Le cœur du problème : l'été à Paris est très chaud. Ça coûte cher, déjà. "
    "Où est la gare ? Über München nach Zürich, à côté du château.\n"
)


def _load(path: Path) -> list:
    return list(TextLoader().load(path, source=path.name, options=LoadOptions()))


def test_paragraphs_become_blocks_and_first_short_line_is_the_title(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Release notes\n\nFirst paragraph,\nstill first.\n\n  \n\nSecond one.\n", encoding="utf-8")
    [doc] = _load(path)
    assert doc.doc_id == "notes.txt"
    assert doc.title == "Release notes"
    assert [b.text for b in doc.blocks] == ["Release notes", "First paragraph,\nstill first.", "Second one."]
    assert all(b.kind == "paragraph" for b in doc.blocks)


def test_long_first_line_falls_back_to_the_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    path.write_text("2024-01-01 12:00:00 INFO " + "x" * 200 + "\nnext line\n", encoding="utf-8")
    [doc] = _load(path)
    assert doc.title == "server"
    assert len(doc.blocks) == 1


def test_crlf_and_bom_are_normalised(tmp_path: Path) -> None:
    path = tmp_path / "win.txt"
    path.write_bytes(b"\xef\xbb\xbfTitle\r\n\r\nBody line\r\n")
    assert read_text(path) == "Title\n\nBody line\n"
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("Grüße\n".encode("utf-16"))
    assert read_text(utf16) == "Grüße\n"


def test_rst_titles_become_headings_with_a_section_path(tmp_path: Path) -> None:
    path = tmp_path / "guide.rst"
    path.write_text(
        "=====\nGuide\n=====\n\nIntro text.\n\nInstall\n-------\n\nRun pip.\n\nUse\n---\n\nCall it.\n",
        encoding="utf-8",
    )
    [doc] = _load(path)
    assert doc.title == "Guide"
    headings = [(b.text, b.section) for b in doc.blocks if b.kind == "heading"]
    assert headings == [("Guide", ("Guide",)), ("Install", ("Guide", "Install")), ("Use", ("Guide", "Use"))]
    assert doc.blocks[-1].text == "Call it." and doc.blocks[-1].section == ("Guide", "Use")


def test_latin1_with_enough_text_is_detected_and_decoded(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes((FRENCH * 4).encode("cp1252"))
    text = read_text(path)
    assert "l'été à Paris" in text and "château" in text


def test_short_latin1_decodes_as_windows_1252(tmp_path: Path) -> None:
    # cp1250, cp1252 and others tie on these bytes; the commonest legacy encoding wins.
    path = tmp_path / "short.txt"
    path.write_bytes("plain ascii line\nCafé crème brûlée, Grüße aus Köln\n".encode("latin-1"))
    assert read_text(path) == "plain ascii line\nCafé crème brûlée, Grüße aus Köln\n"


def test_undetectable_encoding_is_refused_with_the_line(tmp_path: Path) -> None:
    # C1 control bytes: no encoding makes clean text of them, so no guess is trusted.
    path = tmp_path / "export.txt"
    path.write_bytes(b"name,value\nalpha," + bytes(range(0x80, 0xA0)) + b"\nbeta,plain\n")
    with pytest.raises(EncodingError) as err:
        read_text(path)
    message = str(err.value)
    assert "export.txt" in message and "line 2" in message and "UTF-8" in message


def test_binary_garbage_is_an_encoding_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.txt"
    path.write_bytes(random.Random(0).randbytes(4096))
    with pytest.raises(EncodingError, match="binary"):
        _load(path)
    no_nul = tmp_path / "controls.txt"
    no_nul.write_bytes(bytes(range(1, 32)) * 50)
    with pytest.raises(EncodingError, match="binary"):
        _load(no_nul)


@pytest.mark.parametrize("content", [b"", b"  \n\t\r\n  ", b"\xef\xbb\xbf\n"])
def test_empty_or_whitespace_only_is_an_empty_file_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(EmptyFileError):
        _load(path)


def test_a_directory_or_missing_file_is_unreadable(tmp_path: Path) -> None:
    folder = tmp_path / "folder.txt"
    folder.mkdir()
    with pytest.raises(UnreadableFileError, match="directory"):
        _load(folder)
    with pytest.raises(UnreadableFileError):
        _load(tmp_path / "missing.txt")


def test_permission_denied_is_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated: chmod does not stop root, and CI often runs as root.
    path = tmp_path / "secret.txt"
    path.write_text("hidden", encoding="utf-8")

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(UnreadableFileError, match="permission denied"):
        _load(path)
