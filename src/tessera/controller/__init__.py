"""The controller: store + scheduler loop + executor, embedded in a process or run as a daemon."""

from tessera.controller.core import Controller

__all__ = ["Controller"]
