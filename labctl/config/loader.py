"""Lab configuration: YAML files validated into pydantic models.

A lab config names the lab, where its data live, and its devices. Each device entry names its
``kind`` (what it is: ``environment-sensor``), its ``driver`` (which wire protocol: ``opcua``), its
``address`` (where: ``opc.tcp://10.0.0.5:4840``), its timeouts, its safety ``limits`` and the
options its device class defines. A device may name a ``twin`` instead of (or besides) an address:
the lab then starts that simulated instrument on a free loopback port and talks to it through the
same driver — simulation is a choice of address, never a branch in driver code.

Every physical value carries units (``"2 s"``, ``"10 ppm"``, ``"25 degC"``); unknown keys are
errors; every error names the file, the key path, the bad value and what was expected.

This module reads the YAML (duplicate keys refused, ``extends`` merged) and validates it into
:class:`~labctl.config.sections.LabConfig` (:mod:`labctl.config.sections`).

Example::

    lab:
      name: sim-lab
      operator: A. Volta
      data_directory: ../data/sim-lab
    devices:
      glovebox:
        kind: environment-sensor
        driver: opcua
        twin: {kind: opcua-environment, seed: 1}
        timeout: 2 s
        options:
          channels:
            o2: {node: "ns=2;s=glovebox.o2", units: ppm}
        limits:
          o2: {high: 10 ppm}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from labctl.config.sections import LabConfig
from labctl.errors import ConfigError, ConfigIssue


class LoadedConfig:
    """A validated config with where it came from.

    Args:
        model: the validated lab config.
        source: the file it was read from.
        raw: the document as parsed from YAML (for the config hash and reports).
    """

    def __init__(self, model: LabConfig, source: Path, raw: Mapping[str, Any]) -> None:
        self.model = model
        self.source = source
        self.raw = raw

    @property
    def data_directory(self) -> Path:
        """The lab's data directory, resolved against the config file's folder."""
        directory = self.model.lab.data_directory
        if not directory.is_absolute():
            directory = self.source.parent / directory
        return directory.resolve()

    @property
    def store_directory(self) -> Path:
        """The embedded store's folder."""
        directory = self.model.store.directory
        if directory is None:
            return self.data_directory / "tiled"
        if not directory.is_absolute():
            directory = self.source.parent / directory
        return directory.resolve()

    @property
    def hash(self) -> str:
        """SHA-256 of the parsed document (stable under reformatting and comment changes)."""
        return config_hash(self.raw)


def config_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of a parsed config document, independent of key order."""
    canonical = json.dumps(document, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate keys (PyYAML keeps the last one silently)."""


def _find_duplicate_keys(node: yaml.Node, path: tuple[str | int, ...]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[object, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                issues.append(
                    ConfigIssue(
                        (*path, str(key)),
                        f"duplicate key on line {line} (first on line {seen[key]}); "
                        "each name may appear once",
                    )
                )
            else:
                seen[key] = line
            issues.extend(_find_duplicate_keys(value_node, (*path, str(key))))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            issues.extend(_find_duplicate_keys(item, (*path, index)))
    return issues


def _parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text, turning syntax errors and duplicate keys into a :class:`ConfigError`."""
    try:
        root = yaml.compose(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as error:
        raise ConfigError(source, [ConfigIssue((), f"not valid YAML: {error}")]) from None
    if root is None:
        raise ConfigError(source, [ConfigIssue((), "the file is empty")])
    duplicates = _find_duplicate_keys(root, ())
    if duplicates:
        raise ConfigError(source, duplicates)
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError) as error:
        raise ConfigError(source, [ConfigIssue((), f"not valid YAML: {error}")]) from None


def issues_from_validation_error(
    error: ValidationError, prefix: tuple[str | int, ...] = ()
) -> list[ConfigIssue]:
    """Turn pydantic's errors into config issues with key paths a person can follow."""
    issues = []
    for detail in error.errors(include_url=False):
        location = tuple(part for part in detail["loc"] if not _is_internal_location(part))
        message = _plain_message(detail)
        value = None if detail["type"] == "missing" else detail.get("input")
        if isinstance(value, dict | list):
            value = None  # a whole sub-document is noise in a one-line message
        issues.append(ConfigIssue((*prefix, *location), message, value))
    return issues


def _is_internal_location(part: object) -> bool:
    # pydantic adds validator names such as "function-before[...]" to locations.
    return isinstance(part, str) and (
        ("[" in part and "]" in part) or part.startswith("function-")
    )


def _plain_message(detail: Mapping[str, Any]) -> str:
    kind = detail["type"]
    if kind == "missing":
        return "this key is required but missing"
    if kind == "extra_forbidden":
        return "unknown key (check its spelling; unknown keys are not allowed)"
    message = str(detail["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``: mappings merge key by key, anything else replaces."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _resolve_extends(
    document: dict[str, Any], source: Path, seen: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """Apply ``extends: other.yaml`` (relative to the file): the other file, then this one."""
    if "extends" not in document:
        return document
    target = document.pop("extends")
    if not isinstance(target, str) or not target:
        raise ConfigError(source, [ConfigIssue(("extends",), "must be a file name", target)])
    base_path = (source.parent / target).resolve()
    if base_path in seen or base_path == source.resolve():
        raise ConfigError(
            source, [ConfigIssue(("extends",), "configs extend each other in a loop", target)]
        )
    try:
        base_text = base_path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            source, [ConfigIssue(("extends",), f"cannot read {base_path}: {error}", target)]
        ) from None
    base = _parse_yaml(base_text, str(base_path))
    if not isinstance(base, dict):
        raise ConfigError(base_path, [ConfigIssue((), "the top level must be a mapping")])
    base = _resolve_extends(base, base_path, (*seen, source.resolve()))
    if "lab" in base and "data_directory" in base["lab"]:
        # A relative data directory belongs to the file that named it.
        directory = Path(str(base["lab"]["data_directory"]))
        if not directory.is_absolute():
            base["lab"] = {**base["lab"], "data_directory": str(base_path.parent / directory)}
    return _merge(base, document)


def parse_config(text: str, source: str | Path = "<string>") -> LoadedConfig:
    """Validate a lab config given as YAML text.

    A config may start from another with ``extends: sim-lab.yaml`` (relative to its own file):
    that file is read first and this one is laid over it, key by key.

    Raises:
        ConfigError: with every issue found, each naming its key path.
    """
    document = _parse_yaml(text, str(source))
    if not isinstance(document, dict):
        raise ConfigError(
            source,
            [ConfigIssue((), "the top level must be a mapping with 'lab' and 'devices'")],
        )
    document = _resolve_extends(document, Path(source).resolve())
    try:
        model = LabConfig.model_validate(document)
    except ValidationError as error:
        raise ConfigError(source, issues_from_validation_error(error)) from None
    return LoadedConfig(model, Path(source).resolve(), document)


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate a lab config file.

    Raises:
        ConfigError: the file cannot be read, is not YAML, or does not validate.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, [ConfigIssue((), "no such file")]) from None
    except IsADirectoryError:
        raise ConfigError(source, [ConfigIssue((), "this is a directory, not a file")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(source, [ConfigIssue((), f"cannot be read: {error}")]) from None
    loaded = parse_config(text, source)
    # Every command keeps files under it: a file (or a device) there would fail later, deep in
    # the store, the queue server or the approvals, with a bare OSError.
    data_directory = loaded.data_directory
    if data_directory.exists() and not data_directory.is_dir():
        raise ConfigError(
            source,
            [
                ConfigIssue(
                    ("lab", "data_directory"),
                    f"{data_directory} exists and is not a folder",
                    str(loaded.model.lab.data_directory),
                )
            ],
        )
    return loaded
