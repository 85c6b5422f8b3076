"""The `shopfloor` command line (Typer + rich)."""
