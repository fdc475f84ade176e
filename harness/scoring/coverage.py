"""Id-set checks shared by the scorers: a missing, duplicated or unknown id must fail loudly.

The official loaders assert equal id sets with a bare `AssertionError`, and ports that skip the check silently
shrink the denominator (or, for CIDEr, the idf set). Here every mismatch becomes one `HarnessError` line
with counts and example ids.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence

from harness.errors import HarnessError

MAX_EXAMPLES = 5


def examples(ids: Sequence[Hashable]) -> str:
    """Up to `MAX_EXAMPLES` ids as `e.g. 1, 2, 3, ...` for an error message."""
    shown = ", ".join(repr(i) for i in ids[:MAX_EXAMPLES])
    return f"e.g. {shown}{', ...' if len(ids) > MAX_EXAMPLES else ''}"


def duplicates(ids: Sequence[Hashable]) -> list[Hashable]:
    """Ids occurring more than once, each listed once, in order of first occurrence."""
    counts = Counter(ids)
    return [i for i in counts if counts[i] > 1]


def _type_names(ids: Sequence[Hashable]) -> str:
    return "/".join(sorted({type(i).__name__ for i in ids}))


def check_unique(ids: Sequence[Hashable], *, where: str, field: str) -> None:
    """Fail when an id occurs twice in one source (e.g. two annotations for one question)."""
    dup = duplicates(ids)
    if dup:
        raise HarnessError(f"{where}: {len(dup)} duplicated {field}(s) ({examples(dup)})")


def check_coverage(
    expected: Sequence[Hashable],
    given: Sequence[Hashable],
    *,
    field: str,
    expected_name: str,
    given_name: str,
) -> None:
    """Require `given` to hold every id of `expected` exactly once and nothing else.

    `expected` must already be unique. Examples follow the order of the source they come from.
    """
    expected_set = set(expected)
    given_set = set(given)
    dup = duplicates(given) if len(given_set) != len(given) else []
    missing = [i for i in expected if i not in given_set] if not expected_set <= given_set else []
    unknown = [i for i in given if i not in expected_set] if not given_set <= expected_set else []
    if not (dup or missing or unknown):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} {field}(s) of {expected_name} have no prediction ({examples(missing)})")
    if dup:
        parts.append(f"{len(dup)} {field}(s) predicted more than once ({examples(dup)})")
    if unknown:
        parts.append(f"{len(unknown)} {field}(s) not in {expected_name} ({examples(unknown)})")
    hint = ""
    types_expected, types_given = _type_names(expected), _type_names(given)
    if missing and unknown and types_expected != types_given:
        hint = f"; {field} types differ ({expected_name}: {types_expected}, {given_name}: {types_given})"
    raise HarnessError(
        f"{given_name}: {'; '.join(parts)}{hint}; every id of {expected_name} needs exactly one prediction"
    )
