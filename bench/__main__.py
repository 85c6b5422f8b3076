"""`python -m bench NAME [options]`: run the benchmark module `bench/NAME.py`.

A benchmark is any top-level module of this package with a `main(argv) -> int` function;
adding `bench/outbox.py` makes `python -m bench outbox` work without touching this file.
"""

from __future__ import annotations

import importlib
import pkgutil
import signal
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    """The benchmark names: top-level modules of `bench` (helpers live in `bench.lib`)."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules([str(HERE)])
        if not info.ispkg and not info.name.startswith("_")
    )


def usage() -> str:
    names = ", ".join(available()) or "(none yet)"
    return f"usage: python -m bench NAME [options]   (NAME: {names}; NAME --help for options)"


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwind, so servers are stopped and databases dropped


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in available():
        print(f"unknown benchmark '{name}'. {usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"bench.{name}")
    try:
        return int(module.main(rest) or 0)
    except KeyboardInterrupt:  # servers and databases were cleaned up on the way out
        print(f"\n{name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
