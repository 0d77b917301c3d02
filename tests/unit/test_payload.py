"""A function call as a job's payload (``client.dumps_call``): plain ``pickle`` only where it writes
what cloudpickle would; by value whatever the worker could not import."""

from __future__ import annotations

import pickle

import cloudpickle

from tessera.client import dumps_call
from tests import fixtures


def run(payload: bytes) -> object:
    call = pickle.loads(payload)  # noqa: S301 - our own payload
    return call["fn"](*call["args"], **call["kwargs"])


def test_an_importable_function_with_plain_arguments_round_trips() -> None:
    payload = dumps_call(fixtures.square, (7,), {})
    assert run(payload) == 49
    assert payload == pickle.dumps({"fn": fixtures.square, "args": (7,), "kwargs": {}},
                                   protocol=pickle.HIGHEST_PROTOCOL)


def test_what_the_worker_could_not_import_is_pickled_by_value() -> None:
    class Offset(int):  # a local class: plain pickle would refuse it or name it by reference
        pass

    base = 10

    def shifted(x: int, by: int = 0) -> int:  # a closure: only cloudpickle can carry it
        return x + by + base

    assert run(dumps_call(shifted, (1,), {"by": 2})) == 13
    assert run(dumps_call(fixtures.square, (Offset(3),), {})) == 9
    assert run(dumps_call(lambda: "λ", (), {})) == "λ"
    nested = {"a": [1, (2, {"b": Offset(1)})]}
    assert cloudpickle.loads(dumps_call(fixtures.square, (2,), {"extra": nested}))["kwargs"] == {"extra": nested}


def test_without_cloudpickles_private_answer_every_call_goes_by_value(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``dumps_call`` asks cloudpickle's private ``_should_pickle_by_reference``; a release without
    it must only make payloads slower (cloudpickle for all), never wrong or an import error."""
    import types

    from tessera import client

    through: list[object] = []

    def spy(obj: object) -> bytes:
        through.append(obj)
        return cloudpickle.dumps(obj)

    monkeypatch.setattr(client, "cloudpickle", types.SimpleNamespace(dumps=spy))  # no private module in it
    monkeypatch.setattr(client, "_BY_REF", set())
    payload = dumps_call(fixtures.square, (6,), {})
    assert len(through) == 1  # went through cloudpickle
    assert run(payload) == 36
