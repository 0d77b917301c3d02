"""The hot path's shortcuts keep the engine's guarantees: frames on worker sockets, admission in the
submit transaction (and its undo), offers, results handed over in memory, worker environments."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from tessera.client import Client
from tessera.errors import StoreError
from tessera.executors import frames
from tessera.jobfile import to_spec
from tessera.models.states import JobState
from tessera.store.hot import Tx
from tessera.store.records import Candidate
from tessera.submit import submit as submit_specs
from tests import fixtures
from tests.conftest import wait_for


@pytest.fixture
def client(home: Path) -> Iterator[Client]:
    with Client(home=str(home), cpus=2, workers=2) as c:
        yield c


def test_frames_round_trip_through_a_socket_in_pieces() -> None:
    ours, theirs = socket.socketpair()
    msgs = [b"header", b"", b"x" * 300_000, b"\x00\xff" * 7]

    def send() -> None:  # more than a socket buffer holds: written while the reader reads
        for part in (msgs[:2], msgs[2:3], msgs[3:]):
            frames.write_all(ours.fileno(), frames.encode(part))
        ours.close()

    writer = threading.Thread(target=send)
    writer.start()
    reader, got = frames.FrameReader(), []
    while reader.fill(theirs.fileno()):  # 64 KiB at a time: the large frame arrives in parts
        while (f := reader.next()) is not None:
            got.append(f)
    writer.join()
    assert got == msgs
    assert reader.next() is None and not reader.has_frame()


def test_frames_are_what_multiprocessing_connection_reads_and_writes() -> None:
    a, b = socket.socketpair()
    conn = Connection(b.detach())
    frames.write_all(a.fileno(), frames.encode([b"one", b"two"]))
    assert conn.recv_bytes() == b"one" and conn.recv_bytes() == b"two"
    conn.send_bytes(b"three")
    reader = frames.FrameReader()
    wait_for(lambda: reader.fill(a.fileno()) and reader.has_frame(), what="a frame")
    assert reader.next() == b"three"
    conn.close()
    a.close()


def test_idle_controller_admits_a_job_in_its_submit_transaction(client: Client) -> None:
    ctl = client._controller
    assert ctl is not None
    assert client.submit(fixtures.square, 2).result(60) == 4  # the controller is idle afterwards
    spec = to_spec({"function": "tests.fixtures:square", "args": [3]})
    for _ in range(1200):  # the loop may be finishing the previous step: admission waits for none
        with ctl.admitting(spec) as admit:
            if admit is not None:
                ids = submit_specs(client.store, [spec], client.total, accepted=[], admit=admit)
                break
        time.sleep(0.05)
    assert admit is not None and admit.claimed == {ids[0]}
    history = [e.dst for e in client.store.events(ids[0])]
    assert history[:4] == ["submitted", "pending", "runnable", "starting"]
    assert client.wait([client._told(ids, [])[0]], 60)[0].state is JobState.SUCCEEDED
    assert len(client.store.attempts(ids[0])) == 1


def test_a_claim_whose_submit_did_not_commit_is_undone(client: Client) -> None:
    ctl = client._controller
    assert ctl is not None
    client.submit(fixtures.noop).result(60)
    free, before = ctl.free, client.store.counts()
    spec = to_spec({"function": "tests.fixtures:square", "args": [5]})

    def then_fail(tx: Tx, cands: list[Candidate]) -> None:
        assert admit is not None
        admit(tx, cands)  # claimed, staged, not launched
        assert admit.claimed and ctl.free != free
        raise StoreError("the disk is full", "free some space")

    for _ in range(1200):
        with pytest.raises(StoreError), ctl.admitting(spec) as admit:
            if admit is None:
                raise StoreError("not idle yet", "try again")
            submit_specs(client.store, [spec], client.total, accepted=[], admit=then_fail)
        if admit is not None:
            break
        time.sleep(0.05)
    assert admit is not None
    assert ctl.free == free and not ctl._admitted
    assert all(a.job_id not in admit.claimed for a in ctl.active.values())
    assert client.store.counts() == before  # nothing of the job was stored
    assert client.submit(fixtures.square, 6).result(60) == 36  # and the controller carries on


def test_busy_controller_takes_offers_and_every_job_runs_once(client: Client) -> None:
    handles = [client.submit(fixtures.square, i) for i in range(200)]
    assert [h.result(120) for h in handles] == [i * i for i in range(200)]
    for i, h in list(enumerate(handles))[::20]:
        assert len(client.store.attempts(h.id)) == 1
        assert client.store.finished(h.id) == (JobState.SUCCEEDED, "json", str(i * i).encode(), None)


def test_results_reach_the_waiter_in_memory_and_match_the_store(client: Client) -> None:
    h = client.submit(fixtures.square, 9)
    assert h.result(60) == 81
    assert h._waiter.finished is not None and h._waiter.finished == client.store.finished(h.id)
    big = client.submit(lambda: "x" * 100_000)  # over the size held in memory: read from the store
    assert big.result(60) == "x" * 100_000
    assert big._waiter.finished is None


def test_an_attempt_does_not_see_what_the_previous_one_set_in_its_environment(home: Path) -> None:
    with Client(home=str(home), cpus=1, workers=1) as c:
        assert c.submit(os.environ.__setitem__, "TESSERA_LEAK_TEST", "1").result(60) is None
        assert c.submit(fixtures.env_value, "TESSERA_LEAK_TEST").result(60) is None
        assert c.submit(fixtures.env_value, "TESSERA_JOB_ID").result(60) is not None


def test_submit_options_keep_their_own_spec(client: Client) -> None:
    """``Client.submit`` reuses one validated spec per function name and set of options: jobs with
    other options, or unhashable ones, get their own."""
    a = client.submit(fixtures.square, 2, priority=5)
    b = client.submit(fixtures.square, 3)
    c = client.submit(fixtures.square, 4, tags={"k": "v"})
    d = client.submit(fixtures.square, 5, priority=5)
    assert [h.result(60) for h in (a, b, c, d)] == [4, 9, 16, 25]
    specs = [h.job.spec for h in (a, b, c, d)]
    assert [s.priority for s in specs] == [5, 0, 0, 5]
    assert specs[2].tags == {"k": "v"} and all(s.name == "square" for s in specs)
