"""With TESSERA_URL set, the CLI behaves as it does locally: the e2e CLI tests, run again against a
live server, from a client whose own TESSERA_HOME is empty (it cannot reach the store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import test_cli as local
from tests.server.conftest import live


@pytest.fixture
def tessera(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[local.Run]:
    monkeypatch.setenv("TESSERA_GPUS", "2")
    with live(home, project="demo") as srv:
        client_home = tmp_path / "client-home"
        yield local.runner(TESSERA_URL=srv.url, TESSERA_TOKEN=srv.server.secrets["project"],
                           TESSERA_HOME=str(client_home))
        assert not (client_home / "tessera.db").exists(), "the client opened a local store"


test_submit_wait_show_logs = local.test_submit_wait_show_logs
test_run_file_all_succeed = local.test_run_file_all_succeed
test_cancel = local.test_cancel
# (the rest of tests/e2e/test_cli.py passes too against a server, e.g. test_function_and_array;
# these keep the suite short: each CLI call is a fresh Python process)


def test_bad_submit_exits_2_and_stores_nothing(tessera: local.Run) -> None:
    p = tessera("submit", "--cpus", "0", "--", "true", check=2)
    assert "To fix" in p.stderr
    p = tessera("submit", "--gpus", "99", "--", "true", check=2)
    assert "To fix" in p.stderr
    assert local.ls_ids(tessera) == []

def test_status_and_queues_through_the_server(tessera: local.Run) -> None:
    assert "controller: running" in tessera("status").stdout
    tessera("queue", "create", "gpu", "--priority", "5")
    assert ["gpu", "5"] in [line.split() for line in tessera("queue", "ls").stdout.splitlines()]


def test_up_and_down_are_refused(tessera: local.Run) -> None:
    p = tessera("up", check=2)
    assert "TESSERA_URL is set" in p.stderr and "To fix" in p.stderr
