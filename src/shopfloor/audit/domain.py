"""The hash chain: each sealed entry holds the hash of its predecessor."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64


def entry_hash(previous: str, seq: int, content: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash, the position in the chain and the canonical content."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{previous}|{seq}|{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class SealedEntry:
    seq: int
    prev_hash: str
    hash: str
    content: Mapping[str, Any]


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    problem: str


def verify_chain(entries: Iterable[SealedEntry]) -> list[ChainBreak]:
    """Every break in the chain: an altered entry, a removed one, or a broken link."""
    breaks: list[ChainBreak] = []
    previous, expected_seq = GENESIS, 1
    for entry in entries:
        if entry.seq != expected_seq:
            breaks.append(
                ChainBreak(expected_seq, f"entries {expected_seq}..{entry.seq - 1} missing")
            )
        if entry.prev_hash != previous:
            breaks.append(ChainBreak(entry.seq, "link to the previous entry does not match"))
        if entry_hash(entry.prev_hash, entry.seq, entry.content) != entry.hash:
            breaks.append(ChainBreak(entry.seq, "content was changed after it was recorded"))
        previous, expected_seq = entry.hash, entry.seq + 1
    return breaks
