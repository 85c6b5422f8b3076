"""Audit trail: who, what, when (UTC, server clock), old value, new value, reason, for
every change of regulated data; hash-chained so edits behind the application's back show."""
