"""What runs inside a job: ``tessera.context()`` (attempt, checkpoints, progress, preemption notices).

Kept free of the store and the scheduler so that worker processes import it cheaply.
"""

from tessera.runtime.checkpoint import CheckpointStore, Generation, Loaded
from tessera.runtime.context import Context, context

__all__ = ["CheckpointStore", "Context", "Generation", "Loaded", "context"]
