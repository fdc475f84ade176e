"""CSV cells that a spreadsheet will not execute.

Model names, run ids, protocol names and claim text reach our CSVs from configs and folder names a user
controls. A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is run as a formula by
Excel/LibreOffice/Sheets (CSV injection), so such text cells get a leading `'`. Numbers we format ourselves
are written as numbers (a negative delta stays `-0.3`): a float rendered by `format_number` cannot carry a
formula.
"""

from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_text(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_START) else text


def format_number(value: float, decimals: int = 4) -> str:
    """Shortest fixed-point form with at most `decimals` decimals (stable across runs and platforms)."""
    rounded = round(float(value), decimals) or 0.0
    return f"{rounded:.{decimals}f}".rstrip("0").rstrip(".")


def safe_cell(value: Any) -> str:
    """One CSV cell: empty for None, lower-case booleans, numbers as numbers, text escaped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_number(value)
    return escape_text(str(value))
