"""The committed dashboard build: current with web/ (else run `make web`) and complete."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
STATIC = ROOT / "src" / "tessera" / "server" / "static"
INPUTS = ["index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts", "src"]


def sources_sha256() -> tuple[str, int]:
    """The same digest as web/stamp.mjs: sorted relative paths, each with its bytes."""
    files = sorted(
        p.relative_to(WEB).as_posix()
        for name in INPUTS
        for p in ([WEB / name] if (WEB / name).is_file() else (WEB / name).rglob("*"))
        if p.is_file()
    )
    h = hashlib.sha256()
    for rel in files:
        h.update(rel.encode() + b"\0" + (WEB / rel).read_bytes() + b"\0")
    return h.hexdigest(), len(files)


def test_committed_build_is_current_with_web_sources() -> None:
    stamp = json.loads((STATIC / "build.json").read_text())
    digest, n = sources_sha256()
    assert (stamp["sources_sha256"], stamp["files"]) == (digest, n), \
        "web/ changed since the dashboard was built: run `make web` and commit src/tessera/server/static"


def test_index_references_only_shipped_assets() -> None:
    html = (STATIC / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="\./(assets/[^"]+)"', html)
    assert any(r.endswith(".js") for r in refs) and any(r.endswith(".css") for r in refs)
    for ref in refs:
        assert (STATIC / ref).is_file(), ref
    # the lazily loaded editor chunk is shipped too
    assert list((STATIC / "assets").glob("Editor-*.js"))


def test_package_data_ships_the_dashboard() -> None:
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["tessera"]
    assert "server/static/**/*" in data
