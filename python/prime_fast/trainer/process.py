"""Process-wide setup of a training run: seeds, quiet third-party output, the default run directory."""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import torch


def quiet_third_party() -> None:
    """Turn off the per-call progress bars of transformers and datasets (ours is the only display)."""
    import datasets
    import transformers

    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def default_run_dir() -> Path:
    """``runs/<UTC timestamp>``."""
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S", time.gmtime())
