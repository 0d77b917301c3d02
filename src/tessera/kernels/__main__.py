"""Command line for worker processes: ``python -m tessera.kernels run|peak|list``.

Writes one JSON document to stdout. On a ``TesseraError`` it writes
``{"error": message, "type": class name}`` and exits with the error's exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from tessera.errors import SpecError, TesseraError

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the command, write its JSON; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m tessera.kernels")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one kernel and print run_job's result")
    run.add_argument("name")
    run.add_argument("--params", default="{}", help="JSON object of parameters")
    peak = sub.add_parser("peak", help="measure a device's peak FLOP/s and bandwidth")
    peak.add_argument("--device", default="cpu")
    sub.add_parser("list", help="list kernels")
    args = parser.parse_args(argv)
    try:
        result = _dispatch(args)
    except TesseraError as exc:
        sys.stdout.write(json.dumps({"error": exc.message, "type": type(exc).__name__}) + "\n")
        return exc.exit_code
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


def _dispatch(args: argparse.Namespace) -> Any:
    from tessera.kernels import REGISTRY, measure_peak, run_job

    if args.command == "list":
        return {name: k.summary for name, k in REGISTRY.items()}
    if args.command == "peak":
        return measure_peak(args.device)
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"--params is not valid JSON: {exc}", "pass a JSON object, e.g. '{\"n\": 2000}'"
        ) from exc
    if not isinstance(params, dict):
        raise SpecError(
            "--params must be a JSON object", "pass a JSON object, e.g. '{\"n\": 2000}'"
        )
    return run_job(args.name, params)


if __name__ == "__main__":
    sys.exit(main())
