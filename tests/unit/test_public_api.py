"""The public surface: every name in ``tessera.__all__`` resolves, and workers stay lean."""

from __future__ import annotations

import subprocess
import sys

import tessera


def test_every_public_name_resolves() -> None:
    for name in tessera.__all__:
        assert getattr(tessera, name) is not None, name


def test_importing_the_worker_does_not_load_the_store() -> None:
    code = ("import sys, tessera.executors.worker; "
            "print(','.join(m for m in ('sqlalchemy', 'pydantic', 'numpy', 'psutil') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_the_sdk_starts_without_what_only_some_users_need() -> None:
    """Start-up time is a target (controller ≤ 0.5 s): the SDK loads no PostgreSQL dialect, Ray,
    PyTorch, FastAPI or boto3 unless asked to."""
    heavy = ("sqlalchemy.dialects.postgresql", "ray", "torch", "fastapi", "boto3")
    code = (f"import sys, tessera.client; print(','.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_the_worker_names_the_checkpoint_variable_as_the_runtime_does() -> None:
    from tessera.executors.worker import CHECKPOINT_DIR
    from tessera.runtime.context import ENV_CHECKPOINT_DIR

    assert CHECKPOINT_DIR == ENV_CHECKPOINT_DIR


def test_the_worker_marks_attempts_as_process_clean_up_looks_for_them() -> None:
    from tessera.executors import procs, worker

    assert worker.MARKER == procs.MARKER
