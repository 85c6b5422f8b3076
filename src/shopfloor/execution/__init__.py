"""Execution: starting, pausing, resuming and completing operations by qualified operators
in routing order; good/scrap/rework reports; material consumption against the norm; labour;
manual downtime; order completion; reversing corrections and the discrepancy protocol."""
