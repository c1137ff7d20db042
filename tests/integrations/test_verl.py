"""verl 0.9.1: ``compute_score`` inside verl's own reward managers, ``install()`` in fresh processes and Ray workers.

These tests need verl, which pins an older transformers than prime-fast's main environment: they run in their
own environment (``bash scripts/verl_env.sh``; marker ``verl``). The PRIME-recipe checks also need the
verl-recipe repository on ``sys.path`` as ``recipe`` (``PRIME_FAST_VERL_RECIPE=<dir holding recipe/>``).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [
    pytest.mark.verl,
    # third-party deprecations raised while verl and Ray import, not ours to fix
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:verl.*"),
    pytest.mark.filterwarnings("ignore::FutureWarning:verl.*"),
]
verl = pytest.importorskip(
    "verl", reason="verl is not installed (its own environment: bash scripts/verl_env.sh)"
)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from prime_fast.integrations.verl import compute_score  # noqa: E402

CHILD = Path(__file__).with_name("_verl_install_child.py")
RECIPE_DIR = os.environ.get("PRIME_FAST_VERL_RECIPE")
ADD_TESTS = {"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n", "7\n"]}
ROWS = [
    ("numina_olympiads", "2+2=4.\\boxed{4}", "4", 1.0),
    ("numina_olympiads", "\\boxed{5}", "4", 0.0),
    ("math", "\\boxed{1/2}", "0.5", 1.0),
    ("apps", "```python\na, b = map(int, input().split())\nprint(a + b)\n```", json.dumps(ADD_TESTS), 1.0),
    ("taco", "```python\nprint(3)\n```", json.dumps(ADD_TESTS), 0.5),
    (
        "codecontests",
        "```python\nwhile True:\n    pass\n```",
        json.dumps({"inputs": ["1\n"], "outputs": ["1\n"]}),
        0.0,
    ),
]


def test_compute_score_routes_and_pickles() -> None:
    f = pickle.loads(pickle.dumps(compute_score))
    for source, text, gt, want in ROWS:
        assert f(source, text, gt) == want, source
    assert f("anything", "\\boxed{2}", "2", extra_info={"ability": "math"}) == 1.0
    assert f("numina_olympiads", "\\boxed{2}", None) == 0.0
    batch = f(
        data_sources=[r[0] for r in ROWS],
        solution_strs=[r[1] for r in ROWS],
        ground_truths=[r[2] for r in ROWS],
    )
    assert batch == [r[3] for r in ROWS]


def _data(tok: Any) -> Any:
    from verl import DataProto

    p_len, r_len = 6, 96
    prompts = torch.full((len(ROWS), p_len), tok.pad_token_id, dtype=torch.long)
    responses = torch.full((len(ROWS), r_len), tok.pad_token_id, dtype=torch.long)
    attn = torch.zeros((len(ROWS), p_len + r_len), dtype=torch.long)
    for i, (_, text, _, _) in enumerate(ROWS):
        ids = [*tok(text, add_special_tokens=False)["input_ids"][: r_len - 1], tok.eos_token_id]
        responses[i, : len(ids)] = torch.tensor(ids)
        prompts[i, -2:] = torch.tensor(tok("1+", add_special_tokens=False)["input_ids"])
        attn[i, p_len - 2 : p_len + len(ids)] = 1
    return DataProto.from_dict(
        tensors={"prompts": prompts, "responses": responses, "attention_mask": attn},
        non_tensors={
            "data_source": np.array([r[0] for r in ROWS], dtype=object),
            "reward_model": np.array([{"ground_truth": r[2], "style": "rule"} for r in ROWS], dtype=object),
            "extra_info": np.array([{"index": i} for i in range(len(ROWS))], dtype=object),
        },
    )


@pytest.fixture(scope="module")
def tok() -> Any:
    """A character-level tokenizer covering every character of ``ROWS`` (so code survives decoding)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = sorted({c for r in ROWS for c in r[1]} | set("0123456789+"))
    vocab = {"<pad>": 0, "<eos>": 1, **{c: i + 2 for i, c in enumerate(chars)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>")


@pytest.mark.parametrize("manager", ["naive", "prime", "batch"])
def test_reward_managers_score_through_compute_score(manager: str, tok: Any) -> None:
    from verl.workers.reward_manager import get_reward_manager_cls

    cls = get_reward_manager_cls(manager)
    rm = cls(tokenizer=tok, num_examine=0, compute_score=compute_score)
    data = _data(tok)
    out = rm(data, return_dict=True)
    reward = out["reward_tensor"]
    r_len = data.batch["responses"].shape[1]
    lengths = data.batch["attention_mask"][:, -r_len:].sum(-1)
    got = [float(reward[i, int(lengths[i]) - 1]) for i in range(len(ROWS))]
    assert got == [r[3] for r in ROWS]
    assert float(reward.sum()) == sum(r[3] for r in ROWS)  # only the last token of each row carries it
    if manager in ("prime", "batch"):
        assert data.batch["acc"].tolist() == [r[3] for r in ROWS]


def _child(order: str) -> dict[str, Any]:
    paths = [p for p in (RECIPE_DIR, *sys.path) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    proc = subprocess.run(
        [sys.executable, str(CHILD), order], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("order", ["before", "after"])
def test_install_takes_effect_in_a_fresh_process(order: str) -> None:
    report = _child(order)
    assert report["lce_is_prime_fast"] is True
    assert report["fused_gap"] <= 1e-5  # verl's Triton-backend forward, now on prime-fast's op, vs eager
    if RECIPE_DIR is None:
        pytest.skip("PRIME_FAST_VERL_RECIPE is not set: the PRIME recipe checks need a verl-recipe checkout")
    assert report["recipe"] is True and report["recipe_is_prime_fast"] is True
    if order == "before":  # the recipe's own functions were captured before install(): same numbers
        for key in ("adv_gap", "ret_gap", "loss_gap", "grad_gap"):
            assert report[key] <= 1e-5, (key, report[key])


def test_install_as_ray_worker_process_setup_hook() -> None:
    ray = pytest.importorskip("ray")
    paths = os.pathsep.join(p for p in sys.path if p)
    ray.init(
        num_cpus=1,
        include_dashboard=False,
        runtime_env={
            "worker_process_setup_hook": "prime_fast.integrations.verl.install",
            "env_vars": {"PYTHONPATH": paths},
        },
    )
    try:

        @ray.remote
        def probe() -> tuple[str, dict[str, str]]:
            import verl.utils.kernel.linear_cross_entropy as lce

            from prime_fast.integrations.verl import installed

            return lce.linear_cross_entropy.__module__, installed()

        module, patched = ray.get(probe.remote(), timeout=240)
    finally:
        ray.shutdown()
    assert module == "prime_fast.integrations.verl_patches"
    assert "verl.utils.kernel.linear_cross_entropy.linear_cross_entropy" in patched


def test_recipe_config_lines_compose() -> None:
    """The overrides of examples/verl_prime_recipe.py (and docs/INTEGRATIONS.md) exist in the recipe's config."""
    if RECIPE_DIR is None:
        pytest.skip("PRIME_FAST_VERL_RECIPE is not set: the recipe's config is in a verl-recipe checkout")
    import importlib.util

    from hydra import compose, initialize_config_dir

    spec = importlib.util.spec_from_file_location(
        "verl_prime_recipe", Path(__file__).resolve().parents[2] / "examples" / "verl_prime_recipe.py"
    )
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    verl_config = Path(verl.__file__).parent / "trainer" / "config"
    recipe_config = Path(RECIPE_DIR) / "recipe" / "prime" / "config"
    cwd = os.getcwd()
    os.chdir(verl_config.parents[2])  # the recipe's searchpath is file://verl/trainer/config
    try:
        with initialize_config_dir(config_dir=str(recipe_config), version_base=None):
            cfg = compose(config_name="prime_trainer", overrides=example.OVERRIDES)
    finally:
        os.chdir(cwd)
    assert cfg.actor_rollout_ref.model.use_fused_kernels is True
    assert cfg.actor_rollout_ref.model.fused_kernel_options.impl_backend == "triton"
    assert cfg.reward_model.model.fused_kernel_options.impl_backend == "triton"
    assert cfg.reward_model.reward_manager == "prime"
    assert (
        cfg.ray_kwargs.ray_init.runtime_env.worker_process_setup_hook
        == "prime_fast.integrations.verl.install"
    )
    assert cfg.algorithm.adv_estimator == "rloo"
