"""Print a finished workflow's results and copy its files out of the artifact store.

    .venv/bin/python examples/outputs.py seismic-survey --out out/
    .venv/bin/python examples/outputs.py 3

For each step: JSON outputs are printed (mapped steps: one line per element), arrays are
summarised (shape, range), and files are copied to ``--out`` as ``STEP.OUTPUT.EXT``; their
paths are printed, so ``make run`` can say where the seismic image is. Uses the store of
``$TESSERA_HOME`` like the CLI.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from tessera.config import Settings
from tessera.errors import TesseraError
from tessera.store import Store
from tessera.workflows import records
from tessera.workflows.artifacts import ArtifactStore, copy_out
from tessera.workflows.engine import Run

SUFFIX = {b"\x89PNG": ".png", b"%PDF": ".pdf"}


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        if value.size == 0:
            return f"array {value.shape}"
        return f"array {value.shape} {value.dtype}, min {value.min():.4g}, max {value.max():.4g}"
    return json.dumps(value, default=float)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workflow", help="workflow id or name (the latest run with that name)")
    ap.add_argument("--out", type=Path, default=Path("out"), help="where to copy file outputs")
    args = ap.parse_args()
    try:
        store = Store(Settings.load().db_url)
        record = records.get(store, args.workflow)
    except TesseraError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    run = Run(store, record.id)
    arts = ArtifactStore(record.artifacts)
    states = run.states()
    print(f"workflow {record.id} ({record.name}): {run.state}")
    for step in record.steps:
        if states.get(step.step) not in ("succeeded", "cached"):
            print(f"  {step.step}: {states.get(step.step)}")
            continue
        outputs = arts.outputs(step.keys[0])
        for name in outputs:
            refs = run.refs(step.step, name)
            for i, ref in enumerate(refs):
                label = f"{step.step}.{name}" + (f"[{i}]" if len(refs) > 1 else "")
                if ref.type == "file":
                    head = arts.get_bytes(ref)[:4]
                    suffix = SUFFIX.get(head, "")
                    dest = args.out.resolve() / (label if label.endswith(suffix) else label + suffix)
                    print(f"  {label}: {copy_out(arts, ref, dest)}")
                else:
                    print(f"  {label}: {_describe(arts.load(ref))}")
    return 0 if run.state == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
