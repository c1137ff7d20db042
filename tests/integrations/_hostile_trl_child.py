"""Run by ``test_trl_rewards.py`` inside ``unshare --pid``: hostile completions scored by ``code_reward`` through
a real ``GRPOTrainer``, then one training step. Usage: ``python _hostile_trl_child.py WORKDIR OUT.json``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

HOSTILE = {
    "fork_bomb": "```python\nimport os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n```",
    "kill_everything": "```python\nimport os, signal\nos.kill(-1, signal.SIGKILL)\nprint(3)\n```",
    "kill_parent": "```python\nimport os\nos.kill(os.getppid(), 9)\nos.kill(1, 9)\nprint(3)\n```",
    "honest": "```python\na, b = map(int, input().split())\nprint(a + b)\n```",
}
TESTS = {"inputs": ["1 2\n"], "outputs": ["4\n"]}
HONEST_TESTS = {"inputs": ["1 2\n"], "outputs": ["3\n"]}


def main(work: str, out: str) -> None:
    from _trl_setup import grpo_config, tiny_model
    from datasets import Dataset
    from trl import GRPOTrainer

    from prime_fast.integrations.trl import code_reward

    model, tok = tiny_model()
    rows = [{"prompt": [{"role": "user", "content": "1+2=?"}], "tests": json.dumps(TESTS)}] * 8
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[code_reward],
        args=grpo_config(work, max_steps=1),
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
    )
    prompts = [r["prompt"] for r in rows[:4]]
    completions = [[{"role": "assistant", "content": c}] for c in HOSTILE.values()]
    inputs = [{**rows[0], "tests": json.dumps(TESTS)} for _ in range(3)] + [
        {**rows[0], "tests": json.dumps(HONEST_TESTS)}
    ]
    rewards = trainer._calculate_rewards(inputs, prompts, completions, [[1]] * 4)
    trainer.train()
    report = {
        "rewards": rewards[:, 0].tolist(),
        "trained_steps": trainer.state.global_step,
    }
    Path(out).write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
