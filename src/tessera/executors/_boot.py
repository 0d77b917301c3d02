"""Entry point of a worker process: ``python -m tessera.executors._boot FD ENV_JSON``."""

from __future__ import annotations

import json
import os
import sys


def _main() -> None:
    fd, env = int(sys.argv[1]), json.loads(sys.argv[2])
    extra = [p for p in env.pop("TESSERA_SYS_PATH", "").split(os.pathsep) if p and p not in sys.path]
    sys.path[1:1] = extra
    from tessera.executors.worker import main

    main(fd, env)


if __name__ == "__main__":
    _main()
