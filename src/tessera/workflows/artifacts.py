"""The artifact store: content-addressed objects and step manifests on a local directory or any fsspec URL.

Layout under the store's root::

    objects/ab/abcdef...       one object per distinct content (its SHA-256); never rewritten
    steps/<cache key>.json     a finished step element's manifest: its outputs as references

A ``Ref`` (``{"sha256", "type", "size"}``) is what travels between steps and into job results;
the bytes stay in the store. A manifest is written last, atomically, after every object it names,
so a manifest that exists means the step finished and its outputs are all there.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import numpy as np

from tessera.errors import SpecError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Ref:
    """A reference to one stored object, tagged with its port type (``array``, ``file``, ``json``)."""

    sha256: str
    type: str
    size: int
    name: str = ""  # a file's original name (its extension matters to programs); not part of its address

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sha256": self.sha256, "type": self.type, "size": self.size}
        if self.name:
            out["name"] = self.name
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ref:
        return cls(str(data["sha256"]), str(data["type"]), int(data["size"]), str(data.get("name", "")))

    @property
    def suffix(self) -> str:
        """The extension a copy of the object should have: ``.npy``, ``.json``, or the file's own."""
        return {"array": ".npy", "json": ".json"}.get(self.type) or Path(self.name).suffix


def canonical(value: Any) -> bytes:
    """The one byte form of a JSON value (sorted keys, no spaces), so equal values hash equal."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def digest(value: Any) -> str:
    """The SHA-256 a JSON value has in the store."""
    return hashlib.sha256(canonical(value)).hexdigest()


def default_url(home: Path) -> str:
    return str(home / "artifacts")


class ArtifactStore:
    """Objects and manifests under ``url`` (a local path, ``file://``, ``s3://``, ``memory://``...)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.fs, self.root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise SpecError(
                f"cannot open the artifact store {url!r}: {exc}",
                "use a local directory or an fsspec URL whose driver is installed (s3:// needs s3fs)",
            ) from None
        self.root = self.root.rstrip("/")
        self.local = _is_local(self.fs)

    def _object(self, sha: str) -> str:
        return f"{self.root}/objects/{sha[:2]}/{sha}"

    def _manifest(self, key: str) -> str:
        return f"{self.root}/steps/{key}.json"

    # ------------------------------------------------------------------ objects

    def put_bytes(self, data: bytes, type_: str) -> Ref:
        sha = hashlib.sha256(data).hexdigest()
        path = self._object(sha)
        if not self.fs.exists(path):
            self._atomic_write(path, data)
        return Ref(sha, type_, len(data))

    def put_file(self, path: str | os.PathLike[str], type_: str = "file") -> Ref:
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        sha = digest.hexdigest()
        dest = self._object(sha)
        if not self.fs.exists(dest):
            tmp = f"{dest}.tmp-{uuid.uuid4().hex}"
            self.fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(path), tmp)
            self._commit(tmp, dest)
        return Ref(sha, type_, size, os.path.basename(path) if type_ == "file" else "")

    def put_value(self, value: Any, type_: str) -> Ref:
        """Store a step's output: an array (as .npy), a JSON value, or a file given by its path."""
        if type_ == "array":
            buf = io.BytesIO()
            np.save(buf, np.asarray(value), allow_pickle=False)
            return self.put_bytes(buf.getvalue(), "array")
        if type_ == "file":
            if not isinstance(value, str | os.PathLike) or not os.path.isfile(value):
                raise TypeError(f"a file output must be the path of a file the step wrote, got {value!r}")
            return self.put_file(value, "file")
        return self.put_bytes(canonical(value), "json")

    def get_bytes(self, ref: Ref) -> bytes:
        data: bytes = self.fs.cat_file(self._object(ref.sha256))
        return data

    def load(self, ref: Ref, scratch: str | None = None) -> Any:
        """A reference as the step sees it: an array, a JSON value, or a local file path."""
        if ref.type == "array":
            return np.load(io.BytesIO(self.get_bytes(ref)), allow_pickle=False)
        if ref.type == "json":
            return json.loads(self.get_bytes(ref))
        return self.local_path(ref, scratch)

    def local_path(self, ref: Ref, scratch: str | None = None) -> str:
        """A local file holding the object: the object itself on a local store (read-only), else a copy."""
        if self.local:
            return str(self._object(ref.sha256))
        dest = Path(scratch or tempfile.mkdtemp(prefix="tessera-in-")) / ref.sha256
        if not dest.exists():
            self.fs.get_file(self._object(ref.sha256), str(dest))
        return str(dest)

    def where(self, ref: Ref) -> str:
        """The object's path (local store) or URL (any other)."""
        path = self._object(ref.sha256)
        return path if self.local else self.fs.unstrip_protocol(path)

    def has(self, ref: Ref) -> bool:
        return bool(self.fs.exists(self._object(ref.sha256)))

    # ------------------------------------------------------------------ manifests

    def write_manifest(self, key: str, outputs: dict[str, Any], info: dict[str, Any] | None = None) -> None:
        doc = {"key": key, "outputs": outputs, **(info or {})}
        self._atomic_write(self._manifest(key), json.dumps(doc, sort_keys=True).encode())

    def manifest(self, key: str) -> dict[str, Any] | None:
        """A finished step element's manifest, or ``None`` if it never finished (or lost an object)."""
        try:
            doc: dict[str, Any] = json.loads(self.fs.cat_file(self._manifest(key)))
        except FileNotFoundError:
            return None
        return doc

    def finished(self, keys: list[str]) -> set[str]:
        """The keys whose manifest exists and whose objects are all present."""
        done = set()
        for key in keys:
            doc = self.manifest(key)
            if doc is not None and all(self.has(r) for r in _refs(doc.get("outputs", {}))):
                done.add(key)
        return done

    def outputs(self, key: str) -> dict[str, Ref | list[Ref]]:
        doc = self.manifest(key)
        if doc is None:
            raise SpecError(f"no finished step with cache key {key}", "run the workflow (again) to produce it")
        out: dict[str, Ref | list[Ref]] = {}
        for name, val in doc["outputs"].items():
            out[name] = [Ref.from_json(v) for v in val] if isinstance(val, list) else Ref.from_json(val)
        return out

    # ------------------------------------------------------------------ writing

    def _atomic_write(self, path: str, data: bytes) -> None:
        parent = path.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        self.fs.pipe_file(tmp, data)
        self._commit(tmp, path)

    def _commit(self, tmp: str, dest: str) -> None:
        if self.local:
            os.replace(tmp, dest)  # atomic on one file system
            if "/objects/" in dest:
                os.chmod(dest, 0o444)  # objects are shared by reference: nobody may change them
        else:
            self.fs.mv(tmp, dest)


def _refs(outputs: dict[str, Any]) -> list[Ref]:
    refs = []
    for val in outputs.values():
        for one in val if isinstance(val, list) else [val]:
            refs.append(Ref.from_json(one))
    return refs


def _is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def copy_out(store: ArtifactStore, ref: Ref, dest: str | os.PathLike[str]) -> Path:
    """Copy one object to a local path (``tessera workflow show --get``, examples)."""
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    if store.local:
        shutil.copyfile(store.local_path(ref), target)
    else:
        store.fs.get_file(store._object(ref.sha256), str(target))
    return target
