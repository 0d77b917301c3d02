"""A Ray worker fetches a large array payload once per array (``ray_task.shared_payload``), and
hands every element the same object, which ``worker._call``'s cache compares by identity."""

from __future__ import annotations

import pytest

from tessera.executors import ray_task


class _Ref:
    def __init__(self, key: str) -> None:
        self.key = key

    def hex(self) -> str:
        return self.key


def test_a_large_payload_is_fetched_once_per_array(monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    fetched: list[str] = []

    def get(ref: _Ref) -> bytes:
        fetched.append(ref.key)
        return bytes(bytearray(ref.key.encode() * 1000))  # a new object at every fetch

    monkeypatch.setattr(ray, "get", get)
    monkeypatch.setattr(ray_task, "_shared", None)
    a, b = _Ref("a"), _Ref("b")
    first = ray_task.shared_payload([a])
    assert ray_task.shared_payload([_Ref("a")]) is first  # another ref object, the same array
    assert ray_task.shared_payload([b]) == b"b" * 1000
    assert ray_task.shared_payload([a]) == first
    assert fetched == ["a", "b", "a"]  # once per array in a row; a small payload is passed through
    assert ray_task.shared_payload(b"small") == b"small" and ray_task.shared_payload(None) is None
