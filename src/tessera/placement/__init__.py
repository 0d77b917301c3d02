"""Placement: predict each variant's runtime (``model``) and choose one (``decide``, pure);
``apply`` is the submit hook that reads profiles, history, prices and queue state."""
