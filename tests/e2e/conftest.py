"""CLI tests must see the repository (for ``tests.fixtures``) and a few logical GPUs."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _two_logical_gpus(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESSERA_GPUS", "2")
