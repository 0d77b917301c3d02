"""The Ray executor's coalescing rule (which launches share a Ray task), and the worker's cache of
an array's function, which must not be fooled by array ids that repeat across stores."""

from __future__ import annotations

import cloudpickle

from tessera.executors.base import Launch
from tessera.executors.ray import _chunk_size
from tessera.executors.worker import run_one
from tessera.scheduler.decide import Placement


def _launch(**kw: object) -> Launch:
    base: dict[str, object] = {"attempt_id": 1, "job_id": 2, "ref": "1_0", "kind": "pickle",
                               "placement": Placement(2, 1.0, None, ()), "array_id": 1, "array_index": 0,
                               "env": {"TESSERA_COALESCE": "8"}}
    base.update(kw)
    return Launch(**base)  # type: ignore[arg-type]


def test_chunk_size_follows_the_decision_for_python_elements_only() -> None:
    assert _chunk_size(_launch()) == 8
    assert _chunk_size(_launch(env={})) == 1  # not coalesced
    assert _chunk_size(_launch(env={"TESSERA_COALESCE": "x"})) == 1
    assert _chunk_size(_launch(array_id=None)) == 1  # not an array element
    assert _chunk_size(_launch(kind="command", command=("true",))) == 1
    assert _chunk_size(_launch(timeout_s=30.0)) == 1  # a chunk could not tell which element overran
    assert _chunk_size(_launch(placement=Placement(2, 1.0, None, (0,)))) == 1


def _add(i: int, k: int) -> int:
    return i + k


def test_worker_runs_the_function_of_the_array_it_is_given_when_array_ids_repeat(tmp_path: object) -> None:
    """Two stores on one Ray cluster both have an array 1: a worker must not reuse the first's body."""
    out = []
    for k in (10, 20):
        msg = {"attempt_id": k, "kind": "pickle", "array_id": 1, "array_index": 1, "env": {},
               "array_payload": cloudpickle.dumps({"fn": _add, "args": (k,)}),
               "stdout_path": f"{tmp_path}/{k}.out", "stderr_path": f"{tmp_path}/{k}.err"}
        header, data = run_one(msg)
        assert header["status"] == "succeeded"
        out.append(int(data or b"0"))
    assert out == [11, 21]
