"""Container engines: a clear error when none answers, and the command line that runs a step in one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tessera.errors import InfeasibleError
from tessera.workflows import containers
from tessera.workflows.containers import Engine, find_engine, wrap


@pytest.fixture(autouse=True)
def _fresh_probe() -> None:
    containers._probe.cache_clear()


def test_no_engine_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("TESSERA_CONTAINER_ENGINE", raising=False)
    with pytest.raises(InfeasibleError) as e:
        find_engine()
    assert "none is installed" in str(e.value) and "To fix:" in str(e.value)


def _fake(tmp_path: Path, name: str, script: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


def test_a_client_without_its_daemon_is_not_an_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake(tmp_path, "docker", 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2\nexit 1\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("TESSERA_CONTAINER_ENGINE", raising=False)
    with pytest.raises(InfeasibleError) as e:
        find_engine()
    assert "Cannot connect to the Docker daemon" in str(e.value) and "To fix: start the engine" in str(e.value)


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client on this machine")
def test_the_real_docker_client_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a machine with a docker client, either its engine answers or the error says why."""
    monkeypatch.setenv("TESSERA_CONTAINER_ENGINE", "docker")
    try:
        engine = find_engine()
    except InfeasibleError as e:
        assert "docker" in str(e) and "To fix:" in str(e)
    else:
        assert engine.family == "docker"


def test_the_chosen_engine_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake(tmp_path, "podman", 'echo amd64\n')
    _fake(tmp_path, "docker", 'exit 1\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("TESSERA_CONTAINER_ENGINE", "podman")
    assert find_engine() == Engine("podman", str(tmp_path / "podman"))
    monkeypatch.setenv("TESSERA_CONTAINER_ENGINE", "bash")
    _fake(tmp_path, "bash", "exit 0\n")
    with pytest.raises(InfeasibleError, match="is not docker, podman or apptainer"):
        find_engine()


def test_wrap_mounts_the_step_directory() -> None:
    docker = wrap(Engine("docker", "/usr/bin/docker"), "alpine:3", "/w/step-1", ["sh", "-c", "ls"], gpus="0,1")
    assert docker[:8] == ["/usr/bin/docker", "run", "--rm", "-v", "/w/step-1:/w/step-1", "-w", "/w/step-1", "--user"]
    assert docker[docker.index("--gpus") + 1] == '"device=0,1"' and docker[-4:] == ["alpine:3", "sh", "-c", "ls"]
    podman = wrap(Engine("podman", "podman"), "img", "/w", ["true"], gpus="1")
    assert "nvidia.com/gpu=1" in podman
    app = wrap(Engine("apptainer", "apptainer"), "docker://alpine", "/w", ["true"], gpus="0")
    assert app == ["apptainer", "exec", "--bind", "/w:/w", "--pwd", "/w", "--nv", "docker://alpine", "true"]
    assert os.getuid() >= 0
