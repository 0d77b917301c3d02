"""Autoscaling on queue demand: a pure policy (``policy``) and the sinks that apply its decisions
to the local worker pool or to a Ray cluster (``apply``)."""
