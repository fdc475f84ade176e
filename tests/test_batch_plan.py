"""Batch planning, OOM halving and image sharding: pure logic, no model."""

from __future__ import annotations

import pytest
import torch

from harness.errors import HarnessError
from harness.eval.batch_plan import chunks, group_by_image, length_sorted, padded_tokens, windows
from harness.eval.oom import HalvingBatcher
from harness.eval.shard import merge, shard_by_image

KEYS = [7, 3, 7, None, 3, 9, None, 7, 9, 1]


def test_groups_follow_first_appearance_and_none_is_alone():
    assert group_by_image(KEYS) == [[0, 2, 7], [1, 4], [3], [5, 8], [6], [9]]


def test_windows_never_split_an_image():
    groups = group_by_image(KEYS)
    plan = windows(groups, 4)
    assert [sum(len(g) for g in w) for w in plan] == [5, 4, 1]
    assert [g for w in plan for g in w] == groups


def test_length_sort_is_stable_and_reduces_padding():
    lengths = [5, 1, 5, 2, 9, 1]
    order = length_sorted(range(6), lengths)
    assert order == [1, 5, 3, 0, 2, 4]
    assert padded_tokens(chunks(order, 2), lengths) < padded_tokens(chunks(range(6), 2), lengths)


def test_halving_keeps_done_work_and_the_smaller_size():
    calls: list[list[int]] = []

    def fn(batch):
        calls.append(batch)
        if len(batch) > 3:
            raise torch.OutOfMemoryError("injected")
        return [10 * i for i in batch]

    batcher = HalvingBatcher(8)
    out = list(batcher.map(list(range(11)), fn))
    assert [i for batch, _ in out for i in batch] == list(range(11))
    assert all(res == [10 * i for i in batch] for batch, res in out)
    assert [len(c) for c in calls[:3]] == [8, 4, 2] and batcher.size == 2 and batcher.halvings == 2
    with pytest.raises(HarnessError, match="out of memory on a batch of 1"):
        list(HalvingBatcher(2).map([0, 1], lambda b: (_ for _ in ()).throw(torch.OutOfMemoryError("x"))))


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shards_are_a_balanced_partition_by_image(world):
    keys = [i // 5 for i in range(53)] + [None, None]
    shards = shard_by_image(keys, world)
    assert sorted(i for s in shards for i in s) == list(range(len(keys)))
    owner = {keys[i]: r for r, s in enumerate(shards) for i in s if keys[i] is not None}  # last rank seen per image
    assert all(owner[keys[i]] == r for r, s in enumerate(shards) for i in s if keys[i] is not None)
    assert max(len(s) for s in shards) - min(len(s) for s in shards) <= 5


def test_merge_is_by_index_and_checks_gaps_and_conflicts():
    assert merge([[(2, "c"), (0, "a")], [(1, None), (2, "c")]], 3) == ["a", None, "c"]
    with pytest.raises(HarnessError, match="cover 2 of 3"):
        merge([[(0, "a"), (1, "b")]], 3)
    with pytest.raises(HarnessError, match="different outputs"):
        merge([[(0, "a")], [(0, "b")]], 1)
