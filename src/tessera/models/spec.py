"""What a user asks to run: ``JobSpec`` and its parts, validated strictly (unknown fields refused)."""

from __future__ import annotations

import functools
import math
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tessera.errors import SpecError
from tessera.models.placement import PlacementSpec

MAX_ARRAY_SIZE = 1_000_000
MAX_ARRAY_INDEX = 100_000_000
MAX_TIMEOUT_S = 366 * 24 * 3600
_NAME = re.compile(r"^[A-Za-z0-9_.@+\-][A-Za-z0-9_.@+\- ]{0,127}\Z")  # \Z: "$" would accept a trailing newline
_QUEUE = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,62}\Z")
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,255}\Z")
_FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*\Z")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Resources(_Strict):
    """What one attempt holds while it runs."""

    cpus: Annotated[float, Field(gt=0, le=4096)] = 1.0
    memory_mb: Annotated[int, Field(gt=0, le=1 << 26)] | None = None
    gpus: Annotated[int, Field(ge=0, le=256)] = 0

    @field_validator("cpus")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("cpus must be a finite number")
        return v


class RetryAction(StrEnum):
    RETRY = "retry"
    EXIT = "exit"


class RetryRule(_Strict):
    """One rule of a retry policy, like AWS Batch's ``evaluateOnExit``: the first that matches wins.

    ``on_exit_code`` is a glob over the decimal exit code (``"137"``, ``"1*"``, ``"*"``);
    ``on_reason`` names a reason (``timeout``, ``oom``, ``exception``, ``signal``, ``exit_code``).
    """

    action: RetryAction
    on_exit_code: Annotated[str, Field(pattern=r"^-?[0-9*?]{1,12}$")] | None = None
    on_reason: str | None = None

    @model_validator(mode="after")
    def _needs_a_match(self) -> RetryRule:
        if self.on_exit_code is None and self.on_reason is None:
            raise ValueError("a retry rule needs on_exit_code or on_reason")
        if self.on_reason is not None and self.on_reason not in _RETRYABLE_REASONS:
            raise ValueError(f"on_reason must be one of {sorted(_RETRYABLE_REASONS)}")
        return self


_RETRYABLE_REASONS = frozenset({"exit_code", "exception", "timeout", "oom", "signal"})


class RetryPolicy(_Strict):
    """How many attempts a job gets for its own failures, and how long to wait between them."""

    attempts: Annotated[int, Field(ge=1, le=100)] = 1
    rules: tuple[RetryRule, ...] = ()
    backoff_s: Annotated[float, Field(ge=0, le=86400)] = 0.0
    backoff_factor: Annotated[float, Field(ge=1, le=10)] = 2.0
    backoff_max_s: Annotated[float, Field(ge=0, le=86400)] = 600.0


class ArraySpec(_Strict):
    """An array: its indices in Slurm's syntax (``0-999``, ``1,3,5-7``, ``0-15:4``), how many
    elements may run at once, and how many may fail before the rest are cancelled."""

    spec: str
    max_running: Annotated[int, Field(ge=1, le=MAX_ARRAY_SIZE)] | None = None
    max_failures: Annotated[int, Field(ge=1, le=MAX_ARRAY_SIZE)] | None = None

    @property
    def indices(self) -> tuple[int, ...]:
        return _indices(self.spec)

    @property
    def size(self) -> int:
        return len(self.indices)

    @classmethod
    def parse(cls, text: str, max_failures: int | None = None) -> ArraySpec:
        """Parse Slurm's syntax with an optional ``%CAP``: ``0-999%10``."""
        body, _, _cap = str(text).strip().partition("%")
        _, cap = parse_indices(text)
        return cls(spec=body, max_running=cap, max_failures=max_failures)

    @classmethod
    def of_size(cls, n: int, max_running: int | None = None) -> ArraySpec:
        return cls(spec=f"0-{n - 1}", max_running=max_running)

    @field_validator("spec")
    @classmethod
    def _check(cls, v: str) -> str:
        if "%" in v:
            raise ValueError("put the concurrency cap in max_running, not in the index spec")
        try:
            _indices(v)
        except SpecError as e:
            raise ValueError(e.what) from None
        return v


@functools.lru_cache(maxsize=64)
def _indices(text: str) -> tuple[int, ...]:
    return parse_indices(text)[0]


def parse_indices(text: str) -> tuple[tuple[int, ...], int | None]:
    """Parse an array spec into (sorted indices, concurrency cap). Raises ``SpecError``."""
    fix = "write the array as START-END[:STEP][%CAP] or a comma list, e.g. 0-999%10 or 1,3,5-7"
    if not isinstance(text, str) or not text.strip() or len(text) > 10_000:
        raise SpecError(f"array spec {text!r} is empty or too long", fix)
    body, _, cap_text = text.strip().partition("%")
    cap: int | None = None
    if _:
        if not cap_text.isdigit() or int(cap_text) < 1:
            raise SpecError(f"array concurrency cap {cap_text!r} is not a positive integer", fix)
        cap = int(cap_text)
    out: set[int] = set()
    for part in body.split(","):
        m = re.fullmatch(r"(\d{1,9})(?:-(\d{1,9})(?::(\d{1,9}))?)?", part.strip())
        if not m:
            raise SpecError(f"array spec {text!r}: {part!r} is not INDEX or START-END[:STEP]", fix)
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) is not None else start
        step = int(m.group(3)) if m.group(3) is not None else 1
        if end < start or step < 1:
            raise SpecError(f"array spec {text!r}: range {part!r} is empty", fix)
        if end > MAX_ARRAY_INDEX:
            raise SpecError(f"array spec {text!r}: index {end} is above {MAX_ARRAY_INDEX}", fix)
        if (end - start) // step + 1 + len(out) > MAX_ARRAY_SIZE:
            raise SpecError(f"array spec {text!r} has more than {MAX_ARRAY_SIZE} elements", fix)
        out.update(range(start, end + 1, step))
    return tuple(sorted(out)), cap


class DependencyKind(StrEnum):
    AFTEROK = "afterok"
    AFTERANY = "afterany"
    AFTERNOTOK = "afternotok"
    AFTERCORR = "aftercorr"


class Dependency(_Strict):
    """Run after other jobs, Slurm style. ``on`` holds job ids (``"12"``, ``"12_3"``) or job-file names."""

    kind: DependencyKind
    on: tuple[str, ...]

    @field_validator("on")
    @classmethod
    def _refs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("a dependency names at least one job")
        for ref in v:
            if not isinstance(ref, str) or not ref or len(ref) > 128 or "\n" in ref:
                raise ValueError(f"bad job reference {ref!r}")
        return v


def parse_dependency(text: str) -> tuple[Dependency, ...]:
    """Parse ``afterok:ID[:ID],afterany:ID,...`` into dependencies. Raises ``SpecError``."""
    fix = "write dependencies as KIND:ID[:ID][,KIND:ID], KIND one of afterok, afterany, afternotok, aftercorr"
    if not isinstance(text, str) or not text.strip() or len(text) > 10_000:
        raise SpecError(f"dependency {text!r} is empty or too long", fix)
    if "?" in text:
        raise SpecError(f"dependency {text!r}: '?' (any-of) is not supported", fix)
    deps = []
    for part in text.strip().split(","):
        kind, *refs = part.strip().split(":")
        if kind not in DependencyKind.__members__.values():
            raise SpecError(f"dependency {part!r}: unknown kind {kind!r}", fix)
        if not refs or any(not re.fullmatch(r"[A-Za-z0-9_.\-]{1,128}", r) for r in refs):
            raise SpecError(f"dependency {part!r} needs job ids after the kind", fix)
        deps.append(Dependency(kind=DependencyKind(kind), on=tuple(refs)))
    return tuple(deps)


class JobSpec(_Strict):
    """One job as a user describes it. Exactly one of ``command``, ``function``, ``kernel``, ``payload``."""

    name: str | None = None
    command: tuple[str, ...] | None = None
    function: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = Field(default_factory=dict)
    kernel: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    payload: bytes | None = Field(default=None, repr=False)
    queue: str = "default"
    priority: Annotated[int, Field(ge=-1_000_000, le=1_000_000)] = 0
    project: str = "default"
    tags: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    resources: Resources = Field(default_factory=Resources)
    timeout_s: Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S)] | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    array: ArraySpec | None = None
    dependencies: tuple[Dependency, ...] = ()
    placement: PlacementSpec | None = None  # variants to choose from (issue 4); tessera fills ``chosen``

    @property
    def kind(self) -> Literal["command", "function", "kernel", "pickle"]:
        if self.command is not None:
            return "command"
        if self.function is not None:
            return "function"
        if self.kernel is not None:
            return "kernel"
        return "pickle"

    @model_validator(mode="after")
    def _one_body(self) -> JobSpec:
        given = [k for k in ("command", "function", "kernel", "payload") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a job needs exactly one of command, function or kernel"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.command is not None:
            if not self.command or not self.command[0]:
                raise ValueError("command must be a non-empty argument list")
            if any("\x00" in a for a in self.command):
                raise ValueError("command arguments may not contain NUL bytes")
        if self.function is not None and not _FUNCTION.match(self.function):
            raise ValueError("function must be 'module:function', e.g. 'mypkg.tasks:simulate'")
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.match(v):
            raise ValueError(
                "name must be 1-128 characters of letters, digits, spaces and _.@+- (no newlines or quotes)"
            )
        return v

    @field_validator("queue", "project")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not _QUEUE.match(v):
            raise ValueError("must be 1-63 lower-case letters, digits, '_' or '-'")
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for k, val in v.items():
            if not _ENV_KEY.match(k):
                raise ValueError(f"environment name {k!r} is not a valid variable name")
            if not isinstance(val, str) or "\x00" in val or len(val) > 131072:
                raise ValueError(f"environment value of {k} must be a string without NUL bytes")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) > 64:
            raise ValueError("at most 64 tags")
        for k, val in v.items():
            if not re.fullmatch(r"[A-Za-z0-9_.:/\-]{1,128}", k) or len(str(val)) > 256:
                raise ValueError(f"tag {k!r} must be a short identifier with a value of at most 256 characters")
        return v


def make_spec(**fields: Any) -> JobSpec:
    """Build a ``JobSpec``, turning validation errors into one ``SpecError`` with a ``To fix:`` line."""
    try:
        return JobSpec.model_validate(fields)
    except ValidationError as exc:
        raise spec_error(exc) from None


def spec_error(exc: ValidationError, where: str = "") -> SpecError:
    """Translate pydantic's error into tessera's words."""
    lines = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "job"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        lines.append(f"{loc}: {msg}")
    prefix = f"{where}: " if where else ""
    return SpecError(
        prefix + "invalid job specification: " + "; ".join(lines),
        "correct the fields named above; `tessera submit --help` lists every field and its limits",
        errors=[e["loc"] for e in exc.errors()],
    )
