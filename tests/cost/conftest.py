"""Recorded profiles for the placement tests (see benchmarks/profiles/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer

from tessera.cli.cost import install
from tests.server.conftest import server  # noqa: F401 - the server tests' in-process server, for /costs

PROFILES = Path(__file__).resolve().parents[2] / "benchmarks" / "profiles"


def load(name: str) -> list[dict[str, Any]]:
    return list(json.loads((PROFILES / name).read_text())["profiles"])


@pytest.fixture
def seed_profiles() -> list[dict[str, Any]]:
    """The seed's r5.4xlarge (cpu) and g5.8xlarge A10G (cuda) figures."""
    return load("seed_a10g_r5.json")


@pytest.fixture
def cpu_profiles() -> list[dict[str, Any]]:
    """This machine's CPU profile, recorded with `tessera bench --suite full --devices cpu --scale 0.25`."""
    return load("cpu_epyc_2core.json")


def cost_cli() -> typer.Typer:
    """The cost commands on an app of their own (importing ``tessera.cli.main`` in-process would
    rewire ``tessera bench`` for the rest of the session)."""
    app = typer.Typer()
    install(app)
    return app
