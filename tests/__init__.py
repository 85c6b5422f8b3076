import os

# pytest-xdist starts its workers with COLUMNS=80, and a rich console created while COLUMNS is
# set keeps that width for good: the CLI's consoles would ignore the COLUMNS each test gives
# its CliRunner. Without it, they follow the test's COLUMNS (80 when none is given).
os.environ.pop("COLUMNS", None)
