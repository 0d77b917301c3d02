"""Ended-job notices (``controller.notices``): a client whose controller runs in another process is
told which jobs ended, instead of finding out by reading the store every 50 ms."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.client import Client
from tessera.config import Settings
from tessera.controller import daemon, notices
from tessera.controller.notices import Notices, Watcher
from tests.conftest import wait_for
from tests.fixtures import add, until_exists


@pytest.fixture
def background(home: Path) -> Iterator[Settings]:
    s = Settings.load()
    yield s
    daemon.stop(s)


def test_a_watcher_hears_the_ids_and_a_closed_one_is_forgotten() -> None:
    heard: list[list[int]] = []
    got = threading.Event()
    w = Watcher(lambda ids: (heard.append(ids), got.set()))
    n = Notices()
    try:
        n.watch("/tmp/not-a-watcher.sock")  # only the abstract addresses Watcher makes
        n.watch(w.address)
        assert n.watchers == 1
        n.send(range(5000))  # more ids than one notice carries
        wait_for(lambda: sum(map(len, heard)) == 5000, 30, "both notices")
        assert [i for part in heard for i in part] == list(range(5000))
        w.close()
        n.send([1])
        assert n.watchers == 0
    finally:
        w.close()
        n.close()


def _told_when_it_ends(c: Client, a: int, b: int) -> None:
    """``c`` (a client of another process's controller) gets ``add(a, b)`` and the notice of its end."""
    assert not c.embedded and c._watcher is not None
    told: list[int] = []
    c._watcher._on_ended = lambda ids: (told.extend(ids), c._noticed(ids))
    h = c.submit(add, a, b)
    assert h.result(timeout=60) == a + b
    wait_for(lambda: h.id in told, 30, "the controller's notice")


def test_a_client_of_the_background_controller_is_told(background: Settings) -> None:
    daemon.ensure_running(background)
    with Client() as c:
        _told_when_it_ends(c, 2, 3)


def test_a_client_of_another_clients_embedded_controller_is_told(home: Path) -> None:
    with Client(embedded=True) as owner:
        assert owner.embedded
        with Client() as other:  # the home's controller is the owner's: this one pokes it
            _told_when_it_ends(other, 20, 22)


def test_a_poke_carries_what_changed_and_where_to_reply(tmp_path: Path) -> None:
    got: list[tuple[bool, bool]] = []
    watched: list[str] = []
    stop = threading.Event()
    s = Settings.load(home=str(tmp_path / "h"))
    s.home.mkdir(parents=True)
    sock = daemon.listen(s.socket_path, lambda deps, cancels: got.append((deps, cancels)), stop,
                         on_watch=watched.append)
    try:
        daemon.poke(s)  # the CLI's: look at everything
        wait_for(lambda: got == [(True, True)], 30, "the first poke")
        daemon.poke(s, reply_to="\0tessera-1-ab", deps=False, cancels=False)  # an SDK submit's
        wait_for(lambda: len(got) == 2, 30, "the second poke")
        assert got[1] == (False, False) and watched == ["\0tessera-1-ab"]
    finally:
        stop.set()
        sock.close()


def test_a_client_restarts_a_controller_that_stopped(background: Settings) -> None:
    with Client(embedded=False) as c:
        assert c.submit(add, 1, 1).result(timeout=60) == 2  # its first poke started one
        first = daemon.running_pid(background)
        assert first is not None
        daemon.stop(background)
        assert c.submit(add, 2, 2).result(timeout=60) == 4  # the poke found none listening: started again
        second = daemon.running_pid(background)
        assert second is not None and second != first


def test_a_notice_hands_the_outcomes_over_read_in_one_go(background: Settings) -> None:
    daemon.ensure_running(background)
    with Client() as c:
        hs = [c.submit(add, i, i) for i in range(5)]
        wait_for(lambda: all(h._waiter.ended for h in hs), 60, "the notices")
        reads: list[int] = []
        c.store.finished = lambda job_id: reads.append(job_id)  # type: ignore[method-assign,assignment,return-value]
        assert [h.result(timeout=60) for h in hs] == [0, 2, 4, 6, 8]
        assert reads == []  # each waiter held its outcome: no read per job


def test_a_waiter_outside_any_client_is_told_of_the_jobs_it_watches(home: Path, tmp_path: Path) -> None:
    """``tessera wait``'s way: a ``Watcher`` named in one poke; an end it does not watch wakes nothing."""
    with Client(embedded=True) as owner:
        s = owner.settings
        go = tmp_path / "go"
        watched, other = owner.submit(until_exists, str(go)), owner.submit(add, 1, 2)
        assert other.result(timeout=60) == 3
        with notices.watching(s, [watched.id]) as (ended, told):
            assert told
            assert owner._notices is not None
            wait_for(lambda: owner._notices.watchers == 1, 30, "the watcher's poke")  # type: ignore[union-attr]
            assert owner.submit(add, 2, 2).result(timeout=60) == 4
            assert not ended.is_set()  # someone else's job ended
            go.touch()
            assert ended.wait(60)
        assert watched.result(timeout=60) is True
    with notices.watching(s, [1]) as (_ended, told):
        assert not told  # no controller runs here: the caller polls


def test_pokes_that_came_together_make_one_call(tmp_path: Path) -> None:
    got: list[tuple[bool, bool]] = []
    watched: list[str] = []
    gate = threading.Event()
    stop = threading.Event()
    s = Settings.load(home=str(tmp_path / "h"))
    s.home.mkdir(parents=True)

    def on_poke(deps: bool, cancels: bool) -> None:
        got.append((deps, cancels))
        gate.wait(30)  # the listener is busy with the first poke while the next ones arrive

    sock = daemon.listen(s.socket_path, on_poke, stop, on_watch=watched.append)
    try:
        daemon.poke(s, deps=False, cancels=False)
        wait_for(lambda: len(got) == 1, 30, "the first poke")
        for _ in range(3):
            daemon.poke(s, reply_to="\0tessera-1-ab", deps=False, cancels=False)
        daemon.poke(s, reply_to="\0tessera-2-cd", deps=True, cancels=False)
        gate.set()
        wait_for(lambda: len(got) == 2, 30, "the other pokes")
        assert got == [(False, False), (True, False)]  # one call; one of them added a dependency
        assert sorted(watched) == ["\0tessera-1-ab", "\0tessera-2-cd"]  # each address once
    finally:
        stop.set()
        gate.set()
        sock.close()
