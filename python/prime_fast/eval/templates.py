"""Prompt templates: how a benchmark problem becomes the chat messages the model sees.

Named templates:

- ``auto`` (default): a row that already carries a chat ``prompt`` (the Eurus-2-RL-Data schema the
  trainer reads) is used as it is, exactly like the trainer's validation; any other row gets
  ``eurus2`` (the PRIME authors' templates).
- ``eurus2``: PRIME's Eurus-2 evaluation prompts: the action-centric system prompt, and the problem
  followed by the math (``\\boxed{}``) or code (a ```` ```python ```` block) instruction, by ability.
- ``eurus2-math`` / ``eurus2-code``: one of the two for every row.
- ``plain``: the problem alone as the user message, no system prompt.

A custom template is a file: ``.json`` with ``{"system": "...", "user": "... {question} ..."}``
(``system`` optional), or any text file whose whole content is the user message with ``{question}``.
The text is that of the Eurus-2 model cards and PRIME's evaluation scripts (github.com/PRIME-RL/PRIME,
Apache-2.0); see docs/EVAL.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from prime_fast.errors import ConfigError

#: The Eurus-2 system prompt (the models' card and PRIME's eval/scripts/eval/*.py).
EURUS2_SYSTEM = (
    "\nWhen tackling complex reasoning tasks, you have access to the following actions. Use them as needed "
    "to progress through your thought process.\n\n[ASSESS]\n\n[ADVANCE]\n\n[VERIFY]\n\n[SIMPLIFY]\n\n"
    "[SYNTHESIZE]\n\n[PIVOT]\n\n[OUTPUT]\n\nYou should strictly follow the format below:\n\n[ACTION NAME]\n\n"
    "# Your action step 1\n\n# Your action step 2\n\n# Your action step 3\n\n...\n\n"
    "Next action: [NEXT ACTION NAME]\n"
)
EURUS2_MATH_USER = "{question}\n\nPresent the answer in LaTex format: \\boxed{{Your answer}}"
EURUS2_CODE_USER = (
    "{question}\n\nWrite Python code to solve the problem. Present the code in \n```python\nYour code\n```\n"
    "at the end."
)

NAMES = ("auto", "eurus2", "eurus2-math", "eurus2-code", "plain")


@dataclass(frozen=True, slots=True)
class Template:
    """A prompt template.

    Args:
        name: the registered name or the file it came from.
        system: the system message ("" for none).
        math_user / code_user: the user message for math / code problems, with ``{question}``.
        keep_chat: rows that already hold chat messages are used unchanged (``auto``).
    """

    name: str
    system: str
    math_user: str
    code_user: str
    keep_chat: bool = False

    def messages(self, question: str, ability: str) -> list[dict[str, str]]:
        """The chat messages of one problem."""
        user = (self.code_user if ability in ("code", "coding") else self.math_user).format(question=question)
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        msgs.append({"role": "user", "content": user})
        return msgs

    def key(self) -> str:
        """What identifies the template's output (for the generation cache)."""
        return json.dumps([self.system, self.math_user, self.code_user, self.keep_chat])


_BUILTIN = {
    "auto": Template("auto", EURUS2_SYSTEM, EURUS2_MATH_USER, EURUS2_CODE_USER, keep_chat=True),
    "eurus2": Template("eurus2", EURUS2_SYSTEM, EURUS2_MATH_USER, EURUS2_CODE_USER),
    "eurus2-math": Template("eurus2-math", EURUS2_SYSTEM, EURUS2_MATH_USER, EURUS2_MATH_USER),
    "eurus2-code": Template("eurus2-code", EURUS2_SYSTEM, EURUS2_CODE_USER, EURUS2_CODE_USER),
    "plain": Template("plain", "", "{question}", "{question}"),
}


def _check_user(text: str, where: str) -> str:
    if "{question}" not in text:
        raise ConfigError(f"{where}: the user template must contain the placeholder {{question}}")
    try:
        text.format(question="")
    except (KeyError, IndexError, ValueError) as e:
        raise ConfigError(
            f"{where}: the template is not a valid format string ({e!r}); write literal braces as {{{{ }}}}"
        ) from None
    return text


def load_template(spec: str) -> Template:
    """A named template (see :data:`NAMES`) or a template file (``.json`` or plain text)."""
    if spec in _BUILTIN:
        return _BUILTIN[spec]
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"--template {spec!r}: not a known template ({', '.join(NAMES)}) and not a file")
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise ConfigError(f"--template {path}: the file is empty")
    if path.suffix.lower() == ".json":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"--template {path}: line {e.lineno}: not JSON ({e.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("user"), str):
            raise ConfigError(f"--template {path}: expected an object with a string field 'user'")
        system = obj.get("system", "")
        if not isinstance(system, str):
            raise ConfigError(f"--template {path}: field 'system' must be a string")
        user = _check_user(obj["user"], f"--template {path}: field 'user'")
        code = _check_user(obj.get("code_user", user), f"--template {path}: field 'code_user'")
        return Template(str(path), system, user, code)
    user = _check_user(text, f"--template {path}")
    return Template(str(path), "", user, user)
