"""How the fast evaluator orders its work: by image, then by prompt length. Pure functions, no model.

VQAv2 asks ~5.3 questions per image, so the unit of work is an image with all its questions (the vision tower then
runs once per image). Consecutive images form a window; inside a window, questions are sorted by prompt length so
an LM batch pads to its own longest prompt, not the window's. The sort is stable and every plan is a permutation of
the request indices, so callers can put outputs back in request order.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence


def group_by_image(keys: Sequence[Hashable | None]) -> list[list[int]]:
    """Request indices per distinct image, images in order of first appearance; a `None` key is its own image."""
    groups: list[list[int]] = []
    where: dict[Hashable, int] = {}
    for i, key in enumerate(keys):
        if key is None:
            groups.append([i])
            continue
        slot = where.setdefault(key, len(groups))
        if slot == len(groups):
            groups.append([])
        groups[slot].append(i)
    return groups


def windows(groups: Sequence[list[int]], max_questions: int) -> list[list[list[int]]]:
    """Consecutive image groups, cut as soon as a window holds `max_questions` questions (a group is never split)."""
    if max_questions < 1:
        raise ValueError(f"max_questions must be >= 1, got {max_questions}")
    out: list[list[list[int]]] = []
    current: list[list[int]] = []
    count = 0
    for group in groups:
        current.append(group)
        count += len(group)
        if count >= max_questions:
            out.append(current)
            current, count = [], 0
    if current:
        out.append(current)
    return out


def length_sorted(indices: Sequence[int], lengths: Sequence[int] | Mapping[int, int]) -> list[int]:
    """`indices` ordered by prompt length (stable: ties keep their order), so batches pad little."""
    return sorted(indices, key=lambda i: lengths[i])


def chunks(items: Sequence[int], size: int) -> list[list[int]]:
    """Consecutive slices of at most `size` items."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    return [list(items[lo : lo + size]) for lo in range(0, len(items), size)]


def padded_tokens(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> int:
    """Tokens a plan feeds the LM including padding (each batch pads to its longest prompt); for the bench."""
    return sum(len(b) * max(lengths[i] for i in b) for b in batches if b)
