"""Ray test clusters on loopback with token authentication, for the conformance and autoscaling tests.

Importing this module sets Ray's environment for the rest of the session: Ray reads it once, when
it is first imported, so every test module that starts a cluster imports this first. Ray resolves
127.0.0.1 to the machine's address unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``; the token is a
fresh random one. Clusters are stopped by killing only their own processes (never ``ray stop``,
which would stop every Ray on the machine).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import signal

import psutil

_SPEC = importlib.util.find_spec("ray")  # finds the package without importing it
HAVE_RAY = _SPEC is not None
#: Whether the installed Ray has token authentication (Ray 2.52 and later); looked up on disk,
#: because importing anything of Ray here would make it read its environment too early.
TOKEN_AUTH = bool(_SPEC and _SPEC.submodule_search_locations and any(
    os.path.isdir(os.path.join(p, "_private", "authentication")) for p in _SPEC.submodule_search_locations))
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
if TOKEN_AUTH:
    RAY_ENV.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)})
for _k, _v in RAY_ENV.items():
    os.environ.setdefault(_k, _v)


def kill_matching(needle: str, grace_s: float = 5.0) -> int:
    """SIGTERM, then SIGKILL, the processes whose command line mentions ``needle`` (a cluster's own
    temporary directory or session path): how a test stops exactly the cluster it started."""
    mine = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if p.pid != os.getpid() and any(needle in part for part in (p.info["cmdline"] or [])):
                mine.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    for p in mine:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGTERM)
    _gone, alive = psutil.wait_procs(mine, timeout=grace_s)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    return len(mine)
