"""Loading the trainer's configuration: TOML/YAML files plus ``--set a.b=c`` overrides.

Sources, in increasing priority: the dataclass defaults (:mod:`prime_fast.trainer.schema`) or, when no
file is given, the embedded demo preset (:data:`DEMO_PRESET`) -> one TOML or YAML file (same schema) ->
dotted overrides. Unknown keys list the valid ones. The resolved config is written as ``config.json``
into the run directory. The schema's names are importable from here too (``TrainConfig`` ...).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from prime_fast.errors import ConfigError
from prime_fast.runtime.settings import LORA_ALL_LINEAR, LoraSettings, VLLMSection
from prime_fast.trainer.schema import (
    AlgoConfig,
    DataConfig,
    DemoConfig,
    DistributedConfig,
    EvalConfig,
    LogConfig,
    ModelConfig,
    OptimConfig,
    PRMConfig,
    RolloutConfig,
    TrainConfig,
    TrainerConfig,
    VerifyConfig,
)

# The embedded demo: small batches, a higher learning rate for a tiny model, a short run.
DEMO_PRESET: dict[str, Any] = {
    "model": {"path": "demo"},
    "data": {"train_batch_size": 32, "max_prompt_length": 32},
    "rollout": {"n": 4, "max_tokens": 32},
    "prm": {"lr": 5e-4, "mini_batch_size": 128, "micro_batch_size": 64},
    "optim": {"lr": 5e-5, "mini_batch_size": 64, "micro_batch_size": 64, "weight_decay": 0.0},
    "trainer": {"total_steps": 40, "save_freq": 20, "test_freq": 5, "num_threads": 1},
}

_SECTIONS: dict[str, type] = {
    f.name: typing.get_type_hints(TrainConfig)[f.name] for f in dataclasses.fields(TrainConfig)
}


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Convert a parsed TOML/YAML/override value to the field's type, or raise ConfigError."""
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, (dict, list, tuple)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    if origin is tuple:
        args = typing.get_args(hint)
        if isinstance(value, str):
            value = [v for v in (s.strip() for s in value.split(",")) if v] if value else []
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(key, v, args[0]) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"{key}: expected {len(args)} values, got {value!r}")
        return tuple(_coerce(key, v, a) for v, a in zip(value, args))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _build_section(key, value, hint)
    if isinstance(hint, types.UnionType):  # pragma: no cover - no unions in the schema today
        return value
    raise ConfigError(f"{key}: unsupported field type {hint!r}")


def _deep_update(out: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_update(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any], where: str) -> dict[str, Any]:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for section, values in extra.items():
        if section not in _SECTIONS:
            raise ConfigError(f"{where}: unknown section {section!r}; valid sections: {', '.join(_SECTIONS)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: section {section!r} must be a table of keys, got {values!r}")
        out[section] = _deep_update(dict(out.get(section, {})), values)
    return out


def _parse_override(item: str) -> tuple[str, dict[str, Any]]:
    """``SECTION.KEY=VALUE`` (or ``SECTION.TABLE.KEY=VALUE``) -> ``(section, {key: value})``."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    if len(parts) not in (2, 3) or not all(parts):
        raise ConfigError(
            f"--set {item!r}: expected SECTION.KEY=VALUE (e.g. prm.beta_train=0.05 or model.lora.rank=8)"
        )
    value: Any = raw.strip()
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, ValueError):
        low = value.lower()
        if low in ("true", "false"):
            value = low == "true"
    for part in reversed(parts[1:]):
        value = {part: value}
    return parts[0], value


def _build_section(name: str, values: Any, cls: type) -> Any:
    """One (possibly nested) section: coerce each key to its field type, reject unknown keys."""
    if isinstance(values, cls):
        return values
    if not isinstance(values, dict):
        raise ConfigError(f"{name}: expected a table of keys, got {values!r}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(f"unknown key {name}.{key}; valid keys of [{name}]: {', '.join(valid)}")
        kwargs[key] = _coerce(f"{name}.{key}", value, hints[key])
    return cls(**kwargs)


def build_config(data: dict[str, Any]) -> TrainConfig:
    """Validate a nested dict (sections of keys) into a :class:`TrainConfig`."""
    for name in data:
        if name not in _SECTIONS:
            raise ConfigError(f"unknown section {name!r}; valid sections: {', '.join(_SECTIONS)}")
    sections = {name: _build_section(name, data.get(name, {}), cls) for name, cls in _SECTIONS.items()}
    return TrainConfig(**sections)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) config file into a nested dict."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--config: no such file {str(p)!r}")
    suffix = p.suffix.lower()
    text = p.read_text(encoding="utf-8")
    if suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"--config {p}: invalid TOML: {e}") from None
    elif suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"--config {p}: invalid YAML: {e}") from None
    elif suffix == ".json":
        data = json.loads(text)
    else:
        raise ConfigError(f"--config {p}: expected a .toml, .yaml/.yml or .json file")
    if not isinstance(data, dict):
        raise ConfigError(f"--config {p}: expected a mapping of sections at the top level")
    return data


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Resolve the configuration: defaults (or the demo preset without a file) -> file -> overrides."""
    base: dict[str, Any] = _merge({}, DEMO_PRESET, "demo preset") if path is None else {}
    if path is not None:
        base = _merge(base, read_config_file(path), str(path))
    for item in overrides:
        section, values = _parse_override(item)
        base = _merge(base, {section: values}, f"--set {item}")
    return build_config(base)


__all__ = [
    "DEMO_PRESET",
    "LORA_ALL_LINEAR",
    "AlgoConfig",
    "DataConfig",
    "DemoConfig",
    "DistributedConfig",
    "EvalConfig",
    "LogConfig",
    "LoraSettings",
    "ModelConfig",
    "OptimConfig",
    "PRMConfig",
    "RolloutConfig",
    "TrainConfig",
    "TrainerConfig",
    "VLLMSection",
    "VerifyConfig",
    "build_config",
    "load_config",
    "read_config_file",
]
