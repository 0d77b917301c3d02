"""Backends that run attempts behind the small ``Executor`` protocol (local first; Ray and others later)."""

from tessera.executors.base import Executor, Feature, Launch, Outcome, Started
from tessera.executors.local import LocalExecutor

__all__ = ["Executor", "Feature", "Launch", "LocalExecutor", "Outcome", "Started"]
