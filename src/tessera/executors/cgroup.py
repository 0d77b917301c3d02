"""Memory limits through cgroup v2, where the hierarchy is delegated to us (else rlimits are used).

One child cgroup per command attempt under this process's own cgroup: ``memory.max`` caps it,
``memory.swap.max`` is 0, and ``memory.events``'s ``oom_kill`` count says whether the kernel's
OOM killer ended it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)


class CgroupV2:
    """The delegated cgroup v2 subtree that attempts' cgroups are made in."""

    def __init__(self, base: Path) -> None:
        self.base = base

    @classmethod
    def detect(cls, root: Path = Path("/sys/fs/cgroup"), self_cgroup: Path = Path("/proc/self/cgroup")) -> CgroupV2 | None:
        """The subtree if cgroup v2 is mounted at ``root``, ours is writable and has the memory controller."""
        try:
            if not (root / "cgroup.controllers").exists():
                return None  # cgroup v1 or none
            line = next((ln for ln in self_cgroup.read_text().splitlines() if ln.startswith("0::")), None)
            if line is None:
                return None
            here = root / line[3:].lstrip("/")
            if "memory" not in (here / "cgroup.controllers").read_text().split():
                return None
            base = here / "tessera"
            base.mkdir(exist_ok=True)
            # A cgroup with processes may not have children with controllers (no internal processes):
            # attempts go in tessera/<attempt>, and tessera/ enables memory for its children.
            (base / "cgroup.subtree_control").write_text("+memory")
            return cls(base)
        except OSError as e:
            logger.info("cgroup v2 not delegated here (%s); memory limits use rlimits", e)
            return None

    def make(self, key: str, memory_mb: int) -> Path:
        """A cgroup for one attempt, capped at ``memory_mb``."""
        path = self.base / key
        path.mkdir(exist_ok=True)
        (path / "memory.max").write_text(str(memory_mb << 20))
        swap = path / "memory.swap.max"
        if swap.exists():
            swap.write_text("0")
        return path

    @staticmethod
    def enter(path: Path) -> Callable[[], None]:
        """A ``preexec_fn`` that moves the new process into ``path`` before it executes."""
        procs = str(path / "cgroup.procs")

        def _enter() -> None:
            with open(procs, "w") as f:
                f.write(str(os.getpid()))

        return _enter

    @staticmethod
    def oom_killed(path: Path) -> bool:
        """Whether the kernel's OOM killer ended a process of this cgroup."""
        try:
            for line in (path / "memory.events").read_text().splitlines():
                name, _, count = line.partition(" ")
                if name == "oom_kill" and int(count or 0) > 0:
                    return True
        except (OSError, ValueError):
            return False
        return False

    @staticmethod
    def remove(path: Path) -> None:
        try:
            path.rmdir()
        except OSError as e:
            logger.warning("could not remove cgroup %s: %s", path, e)
