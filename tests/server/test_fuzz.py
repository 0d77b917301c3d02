"""Fuzzing: schemathesis generates requests from the OpenAPI spec (0 server errors allowed), and
hypothesis generates malformed job specs (never a 5xx, and nothing is stored).

The server here has no controller (``poke`` does nothing), so generated jobs are stored but never
run: a fuzzer must not execute the commands it invents.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.config import Settings
from tessera.executors.hardware import detect
from tessera.server import tokens
from tessera.server.app import create_app
from tessera.server.context import Context
from tessera.server.security import RateLimiter, loopback_names
from tessera.store import Store

EXAMPLES = int(os.environ.get("TESSERA_FUZZ_EXAMPLES", "20"))  # per operation; raise it for a longer hunt
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
SPECS = settings(FUZZ, max_examples=EXAMPLES * 10)


class Bare:
    """An app over a store with no controller, and an admin token."""

    def __init__(self, home: Path) -> None:
        s = Settings.load(home=home)
        self.store = Store(s.db_url)
        self.ctx = Context(settings=s, store=self.store, total=detect(s), poke=lambda *_: None,
                           allowed_hosts=loopback_names({"testserver"}), limiter=RateLimiter(0, 0),
                           auth_limiter=RateLimiter(0, 0))
        self.secret = tokens.create(self.store, "fuzz", "default", "admin")[1]
        self.auth = {"Authorization": f"Bearer {self.secret}"}
        self.app = create_app(self.ctx)

    def count(self, table: str) -> int:
        with self.store._read() as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


@pytest.fixture
def bare(home: Path) -> Iterator[Bare]:
    b = Bare(home)
    yield b
    b.store.close()


def test_schemathesis_finds_no_server_error(bare: Bare) -> None:
    """Every operation of the spec, with requests schemathesis generates from it."""
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", bare.app, headers=bare.auth)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) > 25
    failures: list[tuple[str, str, int, str]] = []

    def check(case: Any) -> None:
        r = case.call(headers=bare.auth)
        if r.status_code >= 500:
            failures.append((case.method, case.path, r.status_code, r.text[:300]))

    for op in operations:
        given(case=op.as_strategy())(FUZZ(lambda case: check(case)))()
    assert failures == []


# ---------------------------------------------------------------- malformed job specs

_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(string.printable + "\x00é", max_size=12))
_json = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                     max_leaves=12)
_FIELDS = ["name", "command", "function", "args", "kwargs", "kernel", "params", "queue", "priority", "project",
           "tags", "env", "cwd", "cpus", "memory_mb", "gpus", "resources", "timeout_s", "retries", "retry",
           "array", "array_max_failures", "dependency", "dependencies", "payload_b64", "element_payloads_b64"]

# a valid job with one field replaced by garbage, an unknown field added, or a random object
_broken = st.one_of(
    st.builds(lambda k, v: {"command": ["true"], k: v}, st.sampled_from(_FIELDS), _json),
    st.builds(lambda k, v: {"command": ["true"], k: v}, st.text(min_size=1, max_size=10), _json),
    st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=5),
    _json,
)


@given(body=_broken)
@SPECS
def test_malformed_specs_are_refused_and_store_nothing(bare: Bare, body: Any) -> None:
    c = TestClient(bare.app, base_url="http://testserver")
    before = bare.count("jobs"), bare.count("audit")
    for path, payload in (("/api/v1/jobs", body), ("/api/v1/jobs/batch", {"jobs": [body, {"command": ["true"]}]})):
        r = c.post(path, content=json.dumps(payload, allow_nan=True), headers={**bare.auth,
                                                                              "Content-Type": "application/json"})
        assert r.status_code < 500, (path, body, r.text)
        if r.status_code == 201:
            continue  # the generator produced a valid job after all
        assert r.status_code in (400, 403, 404, 422), (path, body, r.status_code, r.text)
        assert r.json()["fix"], r.text
    after = bare.count("jobs"), bare.count("audit")
    accepted = after[1] - before[1]  # every accepted submission is audited
    assert after[0] - before[0] >= accepted
    if accepted == 0:
        assert after == before
