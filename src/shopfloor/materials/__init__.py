"""Materials: lots and serial numbers with their status, and the append-only material move
ledger (issue to line, consume, produce, return, scrap) that genealogy is read from."""
