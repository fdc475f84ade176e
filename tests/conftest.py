"""Shared fixtures: offline Hub, the committed fixture data, and a results dir per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
FIXTURE_DATA = REPO / "fixtures" / "data"


@pytest.fixture
def fixture_data() -> Path:
    return FIXTURE_DATA


def pytest_configure(config):
    """Tiny models are 10-15x slower with torch's 2 default threads on 2 cores (thread sync dominates)."""
    import torch

    torch.set_num_threads(1)
