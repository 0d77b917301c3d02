"""``CheckpointStore``: a job's checkpoints on any fsspec filesystem, written atomically and verified.

Layout under ``<url>/<key>/``: generation ``n`` is a payload ``ckpt-<n>.bin`` and its manifest
``ckpt-<n>.json`` (generation, key, size, SHA-256, time, attempt). A save writes the payload to a
temporary name and renames it, then does the same for the manifest: the manifest's rename is the
commit point, so a save cut short (a crash, a SIGKILL) leaves no manifest and is ignored. The two
newest committed generations are kept. ``load`` walks the generations newest first and returns
the first whose manifest parses, names this key and generation, and whose payload has the size and
checksum it records; every generation that fails is reported as corrupt (truncated, bit-flipped,
a manifest swapped with another generation's or another job's).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tessera import failpoints

KEEP = 2
_GEN = re.compile(r"ckpt-(\d{8})\.json$")


@dataclass(frozen=True, slots=True)
class Generation:
    """One committed checkpoint as its manifest describes it."""

    number: int
    size: int
    sha256: str
    at: float
    attempt: str | None = None


@dataclass
class Loaded:
    """What ``load`` found: the newest valid generation's bytes (None if none) and what was corrupt."""

    data: bytes | None
    generation: Generation | None
    corrupt: list[tuple[int, str]] = field(default_factory=list)  # (generation, why)


class CheckpointStore:
    """Checkpoints of one key (a job) under an fsspec URL (a local path, ``file://``, ``memory://``, ``s3://``...)."""

    def __init__(self, url: str, key: str) -> None:
        import fsspec  # lazily: workers that never checkpoint do not pay for it

        if not key or "/" in key or key in (".", ".."):
            raise ValueError(f"checkpoint key {key!r} must be a plain name")
        self.url = url
        self.key = key
        self.fs, root = fsspec.core.url_to_fs(url)
        self.dir = f"{root.rstrip('/')}/{key}"

    # ------------------------------------------------------------------ writing

    def save(self, data: bytes, attempt: str | None = None) -> Generation:
        """Commit ``data`` as the next generation; keep the two newest. Returns its manifest."""
        self.fs.makedirs(self.dir, exist_ok=True)
        gens = self.generations()
        number = (gens[0] if gens else 0) + 1
        gen = Generation(number, len(data), hashlib.sha256(data).hexdigest(), time.time(), attempt)
        tmp = f"{self.dir}/.tmp-{uuid.uuid4().hex}"
        self._put(tmp, data)
        self.fs.mv(tmp, self._bin(number))
        failpoints.hit("mid_checkpoint_write")  # the payload is there, the manifest is not: not committed
        manifest = json.dumps({"key": self.key, "generation": number, "size": gen.size, "sha256": gen.sha256,
                               "at": gen.at, "attempt": attempt}).encode()
        self._put(tmp, manifest)
        self.fs.mv(tmp, self._manifest(number))
        self._prune(number)
        return gen

    def _put(self, path: str, data: bytes) -> None:
        with self.fs.open(path, "wb") as f:
            f.write(data)

    def _prune(self, newest: int) -> None:
        """Drop generations older than the ``KEEP`` newest committed ones, and stale temporary files."""
        keep = set(self.generations()[:KEEP]) | {newest}
        for path in self._ls():
            name = path.rsplit("/", 1)[-1]
            m = re.match(r"ckpt-(\d{8})\.(bin|json)$", name)
            if (m and int(m.group(1)) not in keep and int(m.group(1)) < newest) or (
                    name.startswith(".tmp-") and self._older_than(path, 3600)):
                with contextlib.suppress(FileNotFoundError, OSError):
                    self.fs.rm(path)

    def _older_than(self, path: str, seconds: float) -> bool:
        try:
            modified = self.fs.modified(path)
        except (NotImplementedError, FileNotFoundError, OSError):
            return False
        return bool(time.time() - modified.timestamp() > seconds)

    # ------------------------------------------------------------------ reading

    def generations(self) -> list[int]:
        """Generations that have a manifest, newest first (not yet verified)."""
        out = []
        for path in self._ls():
            m = _GEN.search(path.rsplit("/", 1)[-1])
            if m:
                out.append(int(m.group(1)))
        return sorted(out, reverse=True)

    def load(self) -> Loaded:
        """The newest generation that verifies; older ones are tried when a newer one is corrupt."""
        found = Loaded(None, None)
        for number in self.generations():
            why, gen, data = self._verify(number)
            if why is None:
                found.data, found.generation = data, gen
                return found
            found.corrupt.append((number, why))
        return found

    def _verify(self, number: int) -> tuple[str | None, Generation | None, bytes | None]:
        try:
            meta: dict[str, Any] = json.loads(self._read(self._manifest(number)))
            gen = Generation(int(meta["generation"]), int(meta["size"]), str(meta["sha256"]), float(meta["at"]),
                             meta.get("attempt"))
            key = meta["key"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            return f"manifest unreadable: {type(e).__name__}", None, None
        except (FileNotFoundError, OSError) as e:
            return f"manifest missing: {e}", None, None
        if key != self.key or gen.number != number:
            return f"manifest belongs to {key!r} generation {gen.number}", None, None
        try:
            data = self._read(self._bin(number))
        except (FileNotFoundError, OSError):
            return "payload missing", None, None
        if len(data) != gen.size:
            return f"payload is {len(data)} bytes, manifest says {gen.size} (truncated?)", None, None
        if hashlib.sha256(data).hexdigest() != gen.sha256:
            return "payload checksum does not match its manifest", None, None
        return None, gen, data

    def _read(self, path: str) -> bytes:
        with self.fs.open(path, "rb") as f:
            data: bytes = f.read()
        return data

    def _ls(self) -> list[str]:
        try:
            return [str(p) for p in self.fs.ls(self.dir, detail=False)]
        except (FileNotFoundError, OSError):
            return []

    def _bin(self, number: int) -> str:
        return f"{self.dir}/ckpt-{number:08d}.bin"

    def _manifest(self, number: int) -> str:
        return f"{self.dir}/ckpt-{number:08d}.json"

    def clear(self) -> None:
        """Remove every generation of this key (after the job succeeded)."""
        with contextlib.suppress(FileNotFoundError, OSError):
            self.fs.rm(self.dir, recursive=True)
