"""Checking B2MML documents against the official V07 schemas shipped in `schemas/`.

Rule: a document is accepted only when it is well-formed XML, its root element is one the
kind expects (an OperationsSchedule for `schedule`, an OperationsPerformance for
`performance`) and it is valid against MESA's schema. Every violation is reported — not just
the first — with its line in the file, a readable path and the validator's message, so a
sender can correct a file in one round.

The parser resolves no entities and fetches nothing from the network (no XXE). Validation
runs in libxml2 through lxml: it loads the schema set in about 0.1 s, where the pure-Python
`xmlschema` needs about 6 s per process; the tests check the exported documents with
`xmlschema` as a second, independent validator.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from shopfloor.integration.b2mml.domain import (
    PERFORMANCE_ROOTS,
    SCHEDULE_ROOTS,
    Violation,
    element_path,
    local_name,
    q,
)
from shopfloor.kernel.errors import RuleViolation

SCHEMA_DIR = Path(__file__).parent / "schemas"
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "schedule": ("B2MML-OperationsSchedule.xsd", SCHEDULE_ROOTS),
    "performance": ("B2MML-OperationsPerformance.xsd", PERFORMANCE_ROOTS),
}
ALIASES = {"operationsschedule": "schedule", "operationsperformance": "performance"}
_LOCK = threading.Lock()  # an lxml schema keeps its error log on the object


class InvalidDocument(RuleViolation):
    """The XML is not a valid B2MML document of the expected kind; nothing was applied."""

    code = "invalid-b2mml"
    title = "Not a valid B2MML document"

    def __init__(self, violations: list[Violation], what: str = "the document") -> None:
        count = len(violations)
        listed = "; ".join(str(v) for v in violations[:5])
        more = f" (and {count - 5} more)" if count > 5 else ""
        super().__init__(f"{what} has {count} problem(s): {listed}{more}")
        self.violations = violations


def canonical_kind(kind: str) -> str:
    name = kind.strip().lower()
    name = ALIASES.get(name, name)
    if name not in KINDS:
        raise ValueError(f"'{kind}' is not a B2MML kind; use {', '.join(KINDS)}")
    return name


@cache
def schema(kind: str) -> Any:
    """The compiled schema of a kind (loaded once per process)."""
    filename, _ = KINDS[canonical_kind(kind)]
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / filename)))


def _parser() -> Any:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse(xml: bytes) -> tuple[Any, list[Violation]]:
    """The parsed tree with line numbers, or None and every well-formedness error."""
    parser = _parser()
    try:
        tree = etree.fromstring(xml, parser).getroottree()
    except etree.XMLSyntaxError as exc:
        return None, _syntax_errors(parser, exc)
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        # B2MML needs no DTD; entities are never resolved, so a document using them is refused
        return None, [Violation(1, "", "a B2MML document has no DOCTYPE (DTDs are refused)")]
    return tree, []


def _syntax_errors(parser: Any, exc: Any) -> list[Violation]:
    """Every error of this parse (the parser's own log: `exc.error_log` is thread-wide)."""
    found = [
        Violation(entry.line or None, "", f"not well-formed XML: {entry.message}")
        for entry in parser.error_log
        if entry.level >= etree.ErrorLevels.ERROR
    ]
    return found or [Violation(exc.lineno or None, "", f"not well-formed XML: {exc.msg}")]


def check(tree: Any, kind: str) -> list[Violation]:
    """Every schema violation of a parsed document, in document order."""
    name = canonical_kind(kind)
    root = tree.getroot()
    _, roots = KINDS[name]
    if root.tag not in {q(r) for r in roots}:
        expected = " or ".join(roots)
        return [
            Violation(
                root.sourceline,
                "/" + local_name(root),
                f"a {name} document is a B2MML {expected} (namespace {q('')[1:-1]}), "
                f"not {root.tag}",
            )
        ]
    compiled = schema(name)
    with _LOCK:
        try:
            compiled.validate(tree)
        except etree.XMLSchemaValidateError as exc:  # libxml2 gave up on the document
            return [Violation(root.sourceline, "/" + local_name(root), f"not checkable: {exc}")]
        entries = list(compiled.error_log)
    return [
        Violation(e.line or None, _readable(tree, e.path), _message(e.message)) for e in entries
    ]


def validate(xml: bytes, kind: str) -> list[Violation]:
    """Every violation of a document of `kind` ('schedule' or 'performance'); [] when the
    document is valid."""
    tree, problems = parse(xml)
    return problems if tree is None else check(tree, kind)


def parse_valid(xml: bytes, kind: str, what: str = "the document") -> Any:
    """The parsed tree of a valid document; InvalidDocument lists every violation."""
    tree, problems = parse(xml)
    if tree is not None:
        problems = check(tree, kind)
    if problems:
        raise InvalidDocument(problems, what)
    return tree


def _readable(tree: Any, path: str | None) -> str:
    """libxml2's /*/*[3]/*[2] as /OperationsSchedule/OperationsRequest/Priority."""
    if not path:
        return ""
    try:
        found = tree.xpath(path)
    except etree.XPathError:
        return path
    return element_path(found[0]) if found else path


def _message(text: str) -> str:
    """The validator's message without the namespace noise in every element name."""
    return str(text).replace(q(""), "").strip()
