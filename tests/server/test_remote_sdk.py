"""``tessera.Client`` with TESSERA_URL set: functions, maps, results and remote exceptions through a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tessera import Client
from tessera.errors import NotFoundError, SpecError
from tests.server.conftest import live


def _boom(x: int) -> int:
    raise ValueError(f"bad {x}")


def _square(x: int) -> int:
    return x * x


def test_sdk_through_a_server(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with live(home) as srv:
        monkeypatch.setenv("TESSERA_URL", srv.url)
        monkeypatch.setenv("TESSERA_TOKEN", srv.server.secrets["project"])
        monkeypatch.setenv("TESSERA_HOME", str(tmp_path / "client-home"))
        with Client() as c:
            assert not c.embedded
            h = c.submit(_square, 7)
            assert h.result(timeout=120) == 49
            assert c.map(_square, range(5), timeout=120) == [0, 1, 4, 9, 16]
            with pytest.raises(ValueError, match="bad 3"):
                c.submit(_boom, 3).result(timeout=120)
            cmd = c.submit_spec({"command": ["sh", "-c", "echo out"]})
            c.wait([cmd], timeout=120)
            assert cmd.logs() == "out\n"
            with pytest.raises(NotFoundError):
                c.store.job("99999")
            with pytest.raises(SpecError, match="To fix"):
                c.submit_spec({"command": ["true"], "cpus": 10_000})
        assert not (tmp_path / "client-home" / "tessera.db").exists()
