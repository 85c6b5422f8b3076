"""Validation against the shipped V07 schemas: every violation with its line and path."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shopfloor.integration.b2mml.validation import (
    SCHEMA_DIR,
    InvalidDocument,
    parse_valid,
    validate,
)

# The project's reference copy of MESA's schemas, when the checkout has it beside it.
REFDATA = Path(__file__).resolve().parents[3] / "shared" / "refdata" / "b2mml"

INVALID = b"""<?xml version="1.0" encoding="UTF-8"?>
<OperationsSchedule xmlns="http://www.mesa.org/xml/B2MML">
  <ID>S1</ID>
  <PublishedDate>yesterday</PublishedDate>
  <OperationsRequest>
    <ID>PO-1</ID>
    <Priority>high</Priority>
    <SegmentRequirement>
      <ID>10</ID>
      <ProcessSegmentID>assembly</ProcessSegmentID>
      <OperationsDefinitionID>R1</OperationsDefinitionID>
      <OperationsSegmentID>10</OperationsSegmentID>
      <MaterialRequirement>
        <ID>m1</ID>
        <MaterialDefinitionID>WS-100</MaterialDefinitionID>
        <MaterialUse>Made</MaterialUse>
        <Bogus/>
      </MaterialRequirement>
    </SegmentRequirement>
  </OperationsRequest>
</OperationsSchedule>
"""


def test_every_violation_is_listed_with_its_line_and_path():
    found = validate(INVALID, "schedule")
    material = "/OperationsSchedule/OperationsRequest/SegmentRequirement/MaterialRequirement"
    assert [(v.line, v.path) for v in found] == [
        (4, "/OperationsSchedule/PublishedDate"),
        (7, "/OperationsSchedule/OperationsRequest/Priority"),
        (16, f"{material}/MaterialUse"),
        (17, f"{material}/Bogus"),
    ]
    assert "'yesterday' is not a valid value" in found[0].message
    assert "'Made' is not an element of the set" in found[2].message
    assert "{http" not in found[3].message  # element names without the namespace noise


def test_invalid_documents_raise_with_all_violations():
    with pytest.raises(InvalidDocument) as refused:
        parse_valid(INVALID, "schedule", "plan.xml")
    assert len(refused.value.violations) == 4
    assert refused.value.detail.startswith("plan.xml has 4 problem(s): line 4: ")


@pytest.mark.parametrize(
    ("xml", "line", "message"),
    [
        (b"<OperationsSchedule>\n<ID>x</OperationsSchedule>", 2, "Opening and ending tag mismatch"),
        (b"", 1, "Document is empty"),
        (b"not xml at all", 1, "Start tag expected"),
    ],
)
def test_xml_that_is_not_well_formed_is_refused_with_its_line(xml, line, message):
    (found,) = validate(xml, "schedule")
    assert found.line == line and found.message.startswith("not well-formed XML")
    assert message in found.message


def test_a_document_of_another_kind_is_refused():
    (found,) = validate(b'<OperationsPerformance xmlns="http://www.mesa.org/xml/B2MML"/>',
                        "schedule")  # fmt: skip
    assert "a schedule document is a B2MML OperationsSchedule" in found.message
    (found,) = validate(b"<OperationsSchedule/>", "schedule")  # no namespace
    assert found.path == "/OperationsSchedule" and found.line == 1


def test_a_doctype_is_refused_and_entities_are_never_resolved():
    xml = (
        b'<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<OperationsSchedule xmlns="http://www.mesa.org/xml/B2MML"><ID>&x;</ID>'
        b"</OperationsSchedule>"
    )
    (found,) = validate(xml, "schedule")
    assert "has no DOCTYPE" in found.message


def test_the_shipped_schemas_are_unmodified_copies():
    sums = (SCHEMA_DIR / "SHA256SUMS").read_text().split("\n")
    listed = dict(reversed(line.split("  ", 1)) for line in sums if line.strip())
    shipped = {p.name for p in SCHEMA_DIR.glob("*.xsd")}
    assert set(listed) == shipped and len(shipped) == 34
    for name, digest in listed.items():
        assert hashlib.sha256((SCHEMA_DIR / name).read_bytes()).hexdigest() == digest, name
    assert "courtesy of MESA International" in (SCHEMA_DIR / "README.md").read_text()
    assert "MESA International" in (SCHEMA_DIR / "LICENSE.txt").read_text()
    if REFDATA.is_dir():  # and identical to the project's reference copy
        for name in shipped:
            assert (REFDATA / name).read_bytes() == (SCHEMA_DIR / name).read_bytes(), name
