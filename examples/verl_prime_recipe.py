"""The PRIME recipe (verl-project/verl-recipe ``prime/``) on prime-fast: its verifier, fused log-probs,
advantage and PRM loss.

Run from a verl checkout whose ``recipe/`` folder is verl-recipe (the recipe's own layout), with prime-fast
installed in the same environment::

    python /path/to/prime-fast/examples/verl_prime_recipe.py data.train_files=... actor_rollout_ref.model.path=...

The recipe's ``main_prime`` takes its scorer as an argument (it does not read ``custom_reward_function``), so this
launcher passes :func:`prime_fast.integrations.verl.compute_score`; :data:`OVERRIDES` turn on verl's fused
log-prob kernels (Triton backend, which :func:`~prime_fast.integrations.verl.install` points at prime-fast's op)
and register ``install`` as Ray's ``worker_process_setup_hook``, so every worker (actor, reference, PRM) runs
prime-fast's advantage, PRM loss and fused log-probs.
"""

from __future__ import annotations

import sys

#: The Hydra overrides this launcher adds (each one exists in the recipe's ``prime_trainer`` config).
OVERRIDES = [
    "reward_model.reward_manager=prime",
    "actor_rollout_ref.model.use_fused_kernels=True",
    "actor_rollout_ref.model.fused_kernel_options.impl_backend=triton",
    "reward_model.model.fused_kernel_options.impl_backend=triton",
    "+ray_kwargs.ray_init.runtime_env.worker_process_setup_hook=prime_fast.integrations.verl.install",
]


def main() -> None:
    """Hand the recipe's Hydra entry point prime-fast's scorer and the overrides above."""
    from pathlib import Path

    import hydra
    import recipe.prime
    from recipe.prime.main_prime import run_prime

    from prime_fast.integrations.verl import compute_score, install

    install()  # this (driver) process too
    config_dir = str(Path(recipe.prime.__path__[0]) / "config")

    @hydra.main(config_path=config_dir, config_name="prime_trainer", version_base=None)
    def entry(config: object) -> None:
        run_prime(config, compute_score=compute_score)

    sys.argv[1:1] = OVERRIDES
    entry()


if __name__ == "__main__":
    main()
