"""Defaults shared across the layers of prime-fast, kept in one place (this module imports nothing)."""

PRM_BETA = 0.05
"""PRIME's ``beta_train``: the scale of the implicit reward ``beta * log(pi_prm / pi_ref)`` in the PRM's
cross-entropy loss and in PRM scores. The one default behind ``prm.beta_train``,
``algos.prm_bce_loss(beta=...)``, ``prime-fast eval --prm-beta`` and ``prime-fast eval-prm --beta``."""
