"""cgroup v2 memory limits: detection, per-attempt cgroups and OOM detection, on a fake hierarchy.

This machine has cgroup v1, so the real kernel path is not exercised here; these tests pin the
file protocol (cgroup.controllers, subtree_control, memory.max, memory.events, cgroup.procs).
"""

from __future__ import annotations

import os
from pathlib import Path

from tessera.executors.cgroup import CgroupV2


def fake_v2(tmp_path: Path, controllers: str = "cpu io memory pids") -> tuple[Path, Path]:
    root = tmp_path / "cg"
    (root / "user.slice" / "me").mkdir(parents=True)
    (root / "cgroup.controllers").write_text(controllers)
    (root / "user.slice" / "me" / "cgroup.controllers").write_text(controllers)
    self_cgroup = tmp_path / "self_cgroup"
    self_cgroup.write_text("0::/user.slice/me\n")
    return root, self_cgroup


def test_detects_a_delegated_v2_subtree(tmp_path: Path) -> None:
    root, me = fake_v2(tmp_path)
    cg = CgroupV2.detect(root, me)
    assert cg is not None and cg.base == root / "user.slice" / "me" / "tessera"
    assert (cg.base / "cgroup.subtree_control").read_text() == "+memory"


def test_v1_or_no_memory_controller_means_rlimits(tmp_path: Path) -> None:
    v1 = tmp_path / "v1"
    v1.mkdir()
    assert CgroupV2.detect(v1, tmp_path / "missing") is None
    root, me = fake_v2(tmp_path, controllers="cpu pids")
    assert CgroupV2.detect(root, me) is None


def test_attempt_cgroup_limit_entry_and_oom(tmp_path: Path) -> None:
    root, me = fake_v2(tmp_path)
    cg = CgroupV2.detect(root, me)
    assert cg is not None
    path = cg.make("a7", 256)
    assert (path / "memory.max").read_text() == str(256 << 20)
    CgroupV2.enter(path)()
    assert (path / "cgroup.procs").read_text() == str(os.getpid())
    (path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n")
    assert not CgroupV2.oom_killed(path)
    (path / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n")
    assert CgroupV2.oom_killed(path)
