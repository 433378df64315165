"""PdfLoader on the shared PDFs (NIST, Federal Register, WARN, NICS, arXiv) and on broken files.

The real-file tests pin text, page numbers, ordering and table rows that were checked against the
rendered pages; they skip when the shared data set is absent.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from dayshift.errors import EmptyFileError, EncryptedFileError, MalformedFileError, UnreadableFileError
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.ingest.loaders.pdf import PdfLoader
from dayshift.types import Block, Document

CSF = "nist_cswp_04162018_cybersecurity_framework_v1.1.pdf"
SP800_61 = "nist_sp800-61r2_incident_handling_guide.pdf"
SP800_63B = "nist_sp800-63b_digital_identity_authentication.pdf"
FEDREG = "federal_register_2020-17221.pdf"
WARN = "ca_edd_warn_report_2015-07_to_2016-03.pdf"
NICS = "fbi_nics_background_checks_2015-11.pdf"
ARXIV = "thoma_creativity_in_machine_learning_arxiv1601.03642.pdf"


def _load(path: Path, source: str | None = None) -> Document:
    docs = list(PdfLoader().load(path, source=source or path.name, options=LoadOptions()))
    assert len(docs) == 1
    return docs[0]


@pytest.fixture(scope="module")
def pdf(pdf_dir: Path) -> Callable[[str], Document]:
    """Load each shared PDF once per module."""
    return cache(lambda name: _load(pdf_dir / name))


def _blocks_with(doc: Document, text: str, *, kind: str | None = None) -> list[Block]:
    return [b for b in doc.blocks if text in b.text and (kind is None or b.kind == kind)]


def _one(doc: Document, text: str, *, kind: str | None = None) -> Block:
    found = _blocks_with(doc, text, kind=kind)
    assert len(found) == 1, f"{text!r} is in {len(found)} blocks"
    return found[0]


# -- document, title, metadata ----------------------------------------------------------------------


def test_one_document_per_file_with_metadata(pdf: Callable[[str], Document]) -> None:
    doc = pdf(CSF)
    assert doc.doc_id == doc.source == CSF
    assert doc.title == "Framework for Critical Infrastructure Cybersecurity, Version 1.1"
    assert doc.metadata["page_count"] == 55
    assert doc.metadata["author"] == "National Institute of Standards and Technology"
    assert doc.metadata["created"] == "2018-04-13T08:03:08-04:00"
    assert all(isinstance(v, str | int | float | bool) for v in doc.metadata.values())


def test_source_sets_doc_id(pdf_dir: Path) -> None:
    doc = _load(pdf_dir / NICS, source="reports/fbi/nics.pdf")
    assert doc.doc_id == doc.source == "reports/fbi/nics.pdf"


def test_title_from_page_when_metadata_title_is_stale_or_empty(pdf: Callable[[str], Document]) -> None:
    assert pdf(ARXIV).title == "Creativity in Machine Learning"  # metadata says "Art in Machine Learning"
    assert pdf(WARN).title == "WARN Report*"  # metadata title is empty
    assert pdf(NICS).title.startswith("NICS Firearm Background Checks")
    assert pdf(SP800_63B).title == "Digital Identity Guidelines: Authentication and Lifecycle Management"


def test_every_block_has_a_page_in_order(pdf: Callable[[str], Document]) -> None:
    for name, pages in ((CSF, 55), (FEDREG, 15), (ARXIV, 8)):
        numbers = [b.page for b in pdf(name).blocks]
        assert all(n is not None and 1 <= n <= pages for n in numbers)
        assert numbers == sorted(numbers), name  # type: ignore[type-var]
    assert _one(pdf(CSF), "1.0 Framework Introduction", kind="heading").page == 8
    assert _one(pdf(SP800_61), "Precursors and indicators are identified using many").page == 36


# -- paragraphs -------------------------------------------------------------------------------------


def test_paragraphs_are_unwrapped_blocks(pdf: Callable[[str], Document]) -> None:
    block = _one(pdf(CSF), "The United States depends on the reliable functioning of its")
    assert block.kind == "paragraph"
    assert "\n" not in block.text
    # four printed lines of page 8, one paragraph, ending where the next one starts
    assert block.text.endswith("overall risk management.")
    assert "placing the Nation’s security, economy, and public safety and health at risk." in block.text


def test_line_end_hyphens_joined_unless_the_compound_is_hyphenated(pdf: Callable[[str], Document]) -> None:
    arxiv = pdf(ARXIV).text
    assert "A computer program is said to learn from experience E with respect" in arxiv  # "experi-" "ence"
    assert "everything gets summed up and the activation function ϕ is applied" in arxiv  # "func-" "tion"
    fedreg = pdf(FEDREG).text
    assert "operators with an existing FAA-approved MEL" in fedreg  # "FAA-" "approved": a real compound
    assert "FAAapproved" not in fedreg and "nonnormal" not in fedreg


def test_bulleted_items_are_list_blocks(pdf: Callable[[str], Document]) -> None:
    fax = _one(pdf(FEDREG), "Fax: 202–493–2251.")
    assert fax.kind == "list" and fax.text == "- Fax: 202–493–2251."
    item = _one(pdf(SP800_61), "An email administrator sees a large number of bounced emails")
    assert item.kind == "list" and item.page == 36


# -- reading order in columns -----------------------------------------------------------------------


def test_two_column_paper_reads_left_column_first(pdf: Callable[[str], Document]) -> None:
    text = pdf(ARXIV).text
    # sentences that wrap over several lines of the left column of page 1, unbroken
    left = (
        "But with the internet, cheap computers, cameras, crowd-sourcing platforms like Wikipedia and lots of "
        "Websites, services like Amazon Mechanical Turk and several other changes in the past decades a lot of "
        "data has become available."
    )
    mitchell = "A formal definition of the field of Machine Learning is given by Tom Mitchel [Mit97]:"
    right = "This means that machine learning programs adjust internal parameters to fit the data they are given."
    assert left in text and mitchell in text and right in text
    assert text.index(left) < text.index(mitchell) < text.index(right)
    # the right column's first paragraph is whole, not cut by left-column lines
    assert "Those computer programs are still developed by software developers, but the developer" in text


def test_three_column_federal_register_reads_column_by_column(pdf: Callable[[str], Document]) -> None:
    doc = pdf(FEDREG)
    first = _one(
        doc,
        "The FAA proposes to supersede Airworthiness Directive (AD) 2018–23–51, which applies to all The "
        "Boeing Company Model 737–8 and 737–9 (737 MAX) airplanes.",
    )
    middle = _one(doc, "For Boeing service information identified in this NPRM, contact Boeing Commercial Airplanes")
    (right,) = [
        b for b in _blocks_with(doc, "Send your comments to an address listed under the ADDRESSES") if b.page == 1
    ]
    assert first.page == middle.page == right.page == 1
    assert doc.blocks.index(first) < doc.blocks.index(middle) < doc.blocks.index(right)
    # a paragraph that runs from the foot of one column to the head of the next stays whole
    assert "The FAA will consider comments filed after the comment period has closed" in doc.text
    assert "documenting the results of the operational evaluation on pilot training" in doc.text


# -- tables -----------------------------------------------------------------------------------------


def _table_rows(block: Block) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in block.text.splitlines()]


def test_warn_report_table_rows(pdf: Callable[[str], Document]) -> None:
    doc = pdf(WARN)
    header = ["Notice Date", "Effective", "Received", "Company", "City", "No. Of", "Layoff/Closure"]
    tables = [b for b in doc.blocks if b.kind == "table" and _table_rows(b)[0] == header]
    # the register runs over pages 1-15 and prints its header on page 1 only: later pages get it back
    assert [b.page for b in tables] == list(range(1, 16))
    first = _table_rows(tables[0])
    assert first[1] == ["---"] * 7
    expected = ["06/22/2015", "03/25/2016", "07/01/2015", "Maxim Integrated Product", "San Jose", "150"]
    assert first[2] == [*expected, "Closure Permanent"]
    assert "| 06/30/2015 | 08/29/2015 | 07/01/2015 | McGraw-Hill Education | Monterey | 137 |" in tables[0].text
    assert _table_rows(tables[1])[2][:4] == ["07/17/2015", "09/18/2015", "07/21/2015", "Boeing Company"]
    summary = [b for b in doc.blocks if b.kind == "table" and b.text.startswith("| Summary by Month |")]
    assert [b.page for b in summary] == [15, 16]
    assert "| September 2015 | 76 | 4,864 |" in summary[1].text


def test_table_text_is_not_repeated_as_prose(pdf: Callable[[str], Document]) -> None:
    warn = pdf(WARN)
    assert _blocks_with(warn, "McGraw-Hill Education", kind="paragraph") == []
    assert len(_blocks_with(warn, "McGraw-Hill Education", kind="table")) == 1
    csf = pdf(CSF)
    assert [b.kind for b in _blocks_with(csf, "ID.AM-1: Physical devices and systems")] == ["table"]


def test_nics_statistics_table_one_row_per_state(pdf: Callable[[str], Document]) -> None:
    (table,) = [b for b in pdf(NICS).blocks if b.kind == "table"]
    rows = {row[0]: row for row in _table_rows(table)}
    # printed five states to a ruled band; each state is its own row
    assert rows["Alabama"][:7] == ["Alabama", "18,870", "23,022", "22,650", "859", "1,178", "0"]
    assert rows["Alabama"][-1] == "71,137"
    assert rows["Wyoming"][-1] == "5,017"
    assert rows["Texas"][1:3] == ["21,550", "56,941"]


def test_nist_csf_tables(pdf: Callable[[str], Document]) -> None:
    doc = pdf(CSF)
    core = [b for b in doc.blocks if b.kind == "table" and b.page == 31]
    assert len(core) == 1
    rows = _table_rows(core[0])
    assert rows[0] == ["Function", "Category", "Subcategory", "Informative References"]
    assert rows[2][0] == "IDENTIFY (ID)"
    assert rows[2][1].startswith("Asset Management (ID.AM): The data, personnel, devices, systems, and facilities")
    assert rows[2][2] == "ID.AM-1: Physical devices and systems within the organization are inventoried"
    assert rows[2][3].startswith("CIS CSC 1 COBIT 5 BAI09.01, BAI09.02")
    # Table 1 on page 30: merged Function cells leave the rows below them empty
    (ids,) = [b for b in doc.blocks if b.kind == "table" and b.page == 30]
    assert "| ID | Identify | ID.AM | Asset Management |" in ids.text
    assert "|  |  | ID.BE | Business Environment |" in ids.text
    glossary = next(b for b in doc.blocks if b.kind == "table" and b.page == 52)
    assert (
        "| Cybersecurity Event | A cybersecurity change that may have an impact on organizational operations "
        "(including mission, capabilities, or reputation). |"
    ) in glossary.text


# -- headings and sections --------------------------------------------------------------------------


def test_sections_from_the_pdf_outline(pdf: Callable[[str], Document]) -> None:
    csf = pdf(CSF)
    block = _one(csf, "The United States depends on the reliable functioning of its")
    assert block.section[-1] == "1.0 Framework Introduction"
    arxiv = pdf(ARXIV)
    assert _one(arxiv, "Applying a simple neural network on image data directly").section == ("III. IMAGE DATA",)
    deepdream = _one(arxiv, "Another technique is to amplify the output of layers.")
    assert deepdream.section == ("III. IMAGE DATA", "A. Google DeepDream")
    heading = _one(arxiv, "A. Google DeepDream", kind="heading")
    assert heading.section == ("III. IMAGE DATA", "A. Google DeepDream") and heading.page == 2


def test_sections_from_fonts_without_an_outline(pdf: Callable[[str], Document]) -> None:
    doc = pdf(SP800_61)
    block = _one(doc, "Precursors and indicators are identified using many")
    assert block.section == (
        "3. Handling an Incident",
        "3.2 Detection and Analysis",
        "3.2.3 Sources of Precursors and Indicators",
    )
    assert _one(doc, "3.2.3 Sources of Precursors and Indicators", kind="heading").page == 36
    # the table below the heading carries the same path
    table = next(b for b in doc.blocks if b.kind == "table" and b.page == 36)
    assert table.section == block.section
    assert "| SIEMs | Security Information and Event Management (SIEM) products" in table.text
    fedreg = pdf(FEDREG)
    assert _one(fedreg, "The FAA estimates that this proposed AD affects 73 airplanes").section == (
        "Costs of Compliance",
    )


# -- running headers, footers and page numbers ------------------------------------------------------


def test_running_headers_footers_and_page_numbers_are_dropped(pdf: Callable[[str], Document]) -> None:
    csf = pdf(CSF)
    assert _blocks_with(csf, "This publication is available free of charge from") == []
    assert all(b.text != "Cybersecurity Framework" for b in csf.blocks)
    assert [b.page for b in csf.blocks if b.text == "April 16, 2018"] == [1]  # the cover date stays
    sp = pdf(SP800_63B)
    assert _blocks_with(sp, "AUTHENTICATION & LIFECYCLE MANAGEMENT") == []
    fedreg = pdf(FEDREG)
    assert _blocks_with(fedreg, "Federal Register / Vol. 85, No. 152 / Thursday") == []
    for doc in (csf, sp, fedreg, pdf(NICS), pdf(SP800_61)):
        # (a table of contents may leave a bare number, whose entry text PDFium does not see)
        numbers = [b for b in doc.blocks if re.fullmatch(r"(Page )?\d+( of \d+)?|[ivx]+", b.text)]
        assert [b for b in numbers if b.section[-1:] != ("Table of Contents",)] == [], doc.source


def test_numbered_heading_at_the_top_of_a_page_keeps_its_number(pdf: Callable[[str], Document]) -> None:
    # "4" sits in the top margin band next to the heading; it is not a page number
    assert _one(pdf(SP800_63B), "4 Authenticator Assurance Levels", kind="heading").page == 15


# -- errors -----------------------------------------------------------------------------------------

_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    s, j = list(range(256)), 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    out, i, j = bytearray(), 0, 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def _pdf_bytes(objects: list[bytes], trailer: bytes) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer, xref)
    return bytes(out)


def _encrypted_pdf(user_password: bytes) -> bytes:
    """A one-page PDF under the standard security handler, revision 2 (40-bit RC4)."""
    file_id, permissions = b"dayshift-test-id", -4
    owner_key = hashlib.md5((b"owner" + _PAD)[:32]).digest()[:5]
    owner = _rc4(owner_key, (user_password + _PAD)[:32])
    key_input = (user_password + _PAD)[:32] + owner + struct.pack("<i", permissions) + file_id
    key = hashlib.md5(key_input).digest()[:5]
    stream = _rc4(hashlib.md5(key + b"\x04\x00\x00\x00\x00").digest()[:10], b"BT /F1 24 Tf 72 700 Td (Secret) Tj ET")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>"
        % (owner.hex().encode(), _rc4(key, _PAD).hex().encode(), permissions),
    ]
    return _pdf_bytes(objects, b"/Encrypt 6 0 R /ID [<%s> <%s>]" % (file_id.hex().encode(), file_id.hex().encode()))


def _one_page_pdf(content: bytes) -> bytes:
    return _pdf_bytes(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ],
        b"",
    )


def test_text_set_sideways_is_read_in_its_own_direction(tmp_path: Path) -> None:
    lines = [b"The first line of a paragraph set sideways,", b"the second line goes on here and the", b"third."]
    # baseline pointing up the page: each next line sits to the right of the last
    content = b"".join(b"BT /F1 12 Tf 0 1 -1 0 %d 100 Tm (%s) Tj ET\n" % (200 + 14 * i, t) for i, t in enumerate(lines))
    content += b"BT /F1 8 Tf 1 0 0 1 72 40 Tm (upright stamp) Tj ET\n"  # off the main direction: dropped
    path = tmp_path / "sideways.pdf"
    path.write_bytes(_one_page_pdf(content))
    doc = _load(path)
    assert [(b.kind, b.text, b.page) for b in doc.blocks] == [
        ("paragraph", "The first line of a paragraph set sideways, the second line goes on here and the third.", 1)
    ]
    assert doc.title == "sideways"  # no metadata title, no larger line: the file name


def test_password_protected_pdf_raises_encrypted(tmp_path: Path) -> None:
    path = tmp_path / "locked.pdf"
    path.write_bytes(_encrypted_pdf(b"secret"))
    unlocked = pdfium.PdfDocument(str(path), password="secret")  # the fixture is a real encrypted PDF
    assert "Secret" in unlocked[0].get_textpage().get_text_range()
    unlocked.close()
    with pytest.raises(EncryptedFileError) as err:
        list(PdfLoader().load(path, source="locked.pdf", options=LoadOptions()))
    assert err.value.path == str(path)
    assert "qpdf --decrypt" in str(err.value)


@pytest.mark.parametrize(
    "content",
    [b"this is not a PDF at all, just text with a .pdf name\n", b"", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog"],
    ids=["text", "zero-bytes", "truncated"],
)
def test_corrupt_or_not_a_pdf_raises_malformed(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(content)
    with pytest.raises(MalformedFileError) as err:
        list(PdfLoader().load(path, source="broken.pdf", options=LoadOptions()))
    assert "re-export" in str(err.value)


def test_blank_pdf_raises_empty(tmp_path: Path) -> None:
    path = tmp_path / "blank.pdf"
    blank = pdfium.PdfDocument.new()
    blank.new_page(612, 792)
    blank.new_page(612, 792)
    blank.save(str(path))
    blank.close()
    with pytest.raises(EmptyFileError) as err:
        list(PdfLoader().load(path, source="blank.pdf", options=LoadOptions()))
    assert "OCR" in str(err.value) and "2 pages" in err.value.reason


def test_missing_file_raises_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError):
        list(PdfLoader().load(tmp_path / "nope.pdf", source="nope.pdf", options=LoadOptions()))


def test_loader_interface() -> None:
    assert PdfLoader.extensions == (".pdf",)
