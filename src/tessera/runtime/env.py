"""The runtime variables the controller gives every attempt: checkpoint location, notice and progress files."""

from __future__ import annotations

import os

from tessera.runtime.context import (
    ENV_CAPACITY,
    ENV_CHECKPOINT_DIR,
    ENV_CHECKPOINT_KEY,
    ENV_CHECKPOINT_URL,
    ENV_NOTICE_FILE,
    ENV_PROGRESS_FILE,
)

NOTICE_NAME = "preemption-notice.json"
PROGRESS_NAME = "progress.json"


def checkpoint_root(checkpoint_url: str, home: str) -> str:
    """The checkpoint URL in use: the configured fsspec URL, or ``$TESSERA_HOME/checkpoints``."""
    return checkpoint_url or os.path.join(home, "checkpoints")


def local_dir(root: str, job_id: int) -> str | None:
    """The job's checkpoint directory when ``root`` is on this machine (a path or ``file://``), else None."""
    if root.startswith("file://"):
        root = root[len("file://"):]
    elif "://" in root:
        return None
    return os.path.join(root, str(job_id))


def attempt_env(root: str, home: str, job_id: int, scratch_dir: str, capacity: str) -> dict[str, str]:
    """Variables for one attempt. Commands get ``TESSERA_CHECKPOINT_DIR``: the job's local checkpoint
    directory, or, when checkpoints live on a remote URL, a local one under the home (local only)."""
    return {
        ENV_CHECKPOINT_URL: root, ENV_CHECKPOINT_KEY: str(job_id),
        ENV_CHECKPOINT_DIR: local_dir(root, job_id) or os.path.join(home, "checkpoints", str(job_id)),
        ENV_NOTICE_FILE: os.path.join(scratch_dir, NOTICE_NAME),
        ENV_PROGRESS_FILE: os.path.join(scratch_dir, PROGRESS_NAME), ENV_CAPACITY: capacity,
    }
