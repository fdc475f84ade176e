"""User-facing errors: one clear line, no traceback, non-zero exit.

Every input problem a user can cause (bad file, unknown name, hub unreachable) raises `HarnessError`; the CLIs wrap
their `main` with `cli_main` so the user sees the one line, not a stack trace.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class HarnessError(Exception):
    """An error whose message alone tells the user what is wrong and what to do."""


def cli_main(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run a CLI entry point, turning `HarnessError` into one line on stderr and exit code 2."""
    try:
        code = main(argv)
    except HarnessError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)
