"""Reading the YAML configuration: placeholders, the seed's overrides, validation, errors.

Order: parse the YAML (keeping line numbers), fill `{EMOTION_EDGE_*}` placeholders from the
environment, apply the seed's environment overrides (MODEL_FILE, IMAGES_DIR), then validate.
Every problem found on the way is collected and raised together as one ConfigError.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import ValidationError

from edge_daemon.config.errors import ConfigError, ConfigProblem, line_of, problems_from_validation
from edge_daemon.config.root import Config

log = logging.getLogger(__name__)

# Like Frigate's {FRIGATE_*}: only variables with our prefix are substituted, so that a brace
# that happens to be in a value (a GStreamer caps string, a URL) is never touched by accident.
PLACEHOLDER = re.compile(r"\{(EMOTION_EDGE_[A-Z0-9_]+)\}")

# Bounds on what a config may ask of the parser, far above any real one (the example config
# is 6 kB with about 300 values): YAML aliases let 700 bytes stand for 9^9 values, and every
# later step (duplicate keys, placeholders, validation) walks the expanded tree.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_CONFIG_VALUES = 100_000  # scalars, mappings and sequences, each alias counted expanded
MAX_CONFIG_DEPTH = 64

ENV_MODEL_FILE = "MODEL_FILE"
ENV_IMAGES_DIR = "IMAGES_DIR"


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, fill, override and validate the YAML file at path; raise ConfigError on problems."""
    try:
        size = Path(path).stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(str(path), [ConfigProblem(
                "", f"the file is {size / 1024 / 1024:.1f} MB; a config larger than "
                f"{MAX_CONFIG_BYTES // 1024 // 1024} MB is refused unread")])
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problem = ConfigProblem("", f"cannot read the file: {reason}")
        raise ConfigError(str(path), [problem]) from None
    return parse_config(text, str(path), environ)


def parse_config(
    text: str, source: str = "<config>", environ: Mapping[str, str] | None = None
) -> Config:
    """Validate configuration text (YAML); source names it in error messages."""
    environ = os.environ if environ is None else environ
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(source, [ConfigProblem(
            "", f"the text is {len(text) / 1024 / 1024:.1f} MB; a config larger than "
            f"{MAX_CONFIG_BYTES // 1024 // 1024} MB is refused unread")])
    try:
        root_node, data = _parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [_syntax_problem(exc)]) from None
    except _TooLarge as exc:
        raise ConfigError(source, [ConfigProblem("", f"refused: the document is {exc.problem}",
                                                 line=exc.line)]) from None
    except RecursionError:
        raise ConfigError(source, [ConfigProblem(
            "", f"refused: the document is nested far more than {MAX_CONFIG_DEPTH} levels "
            "deep")]
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigProblem("", "the file must hold a mapping of sections",
                                                 line=1)])
    problems = _duplicate_keys(root_node, "")
    data = _fill_placeholders(data, environ, (), root_node, problems)
    origins = _apply_overrides(data, environ)
    config = None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems += problems_from_validation(exc, Config, root_node, origins)
    if problems or config is None:
        problems.sort(key=lambda p: (p.line is None, p.line or 0))
        raise ConfigError(source, problems)
    for key, origin in sorted(origins.items()):
        log.info("config: %s set from %s", key, origin)
    return config


def _parse_yaml(text: str) -> tuple[yaml.Node | None, object]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_size(node)
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data


class _TooLarge(ValueError):
    """The composed document is deeper or, aliases expanded, larger than a config can be."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem)
        self.problem, self.line = problem, (mark.line + 1 if mark is not None else None)


def _check_size(root: yaml.Node) -> None:
    """Refuse documents nested deeper than MAX_CONFIG_DEPTH or expanding past MAX_CONFIG_VALUES.

    An alias is the same node object as its anchor, so the composed graph is small even when
    its expansion is huge: each node's expanded size is computed once (memoized by identity),
    bottom up, in work linear in the file.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise _TooLarge(f"is nested more than {MAX_CONFIG_DEPTH} levels deep",
                            node.start_mark)
        children = _children(node)
        if children_done:
            total = 1 + sum(sizes[id(child)] for child in children)
            if total > MAX_CONFIG_VALUES:
                raise _TooLarge(f"expands to more than {MAX_CONFIG_VALUES:,} values (YAML "
                                "aliases repeating aliases?)", node.start_mark)
            sizes[id(node)] = total
            continue
        if id(node) in sizes:
            continue
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in children if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _syntax_problem(exc: yaml.YAMLError) -> ConfigProblem:
    mark = getattr(exc, "problem_mark", None)
    reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    line = mark.line + 1 if mark is not None else None
    column = f", column {mark.column + 1}" if mark is not None else ""
    return ConfigProblem("", f"YAML syntax error: {reason}{column}", line=line)


def _duplicate_keys(node: yaml.Node | None, path: str) -> list[ConfigProblem]:
    """YAML silently keeps the last of two equal keys; a config file should not."""
    problems: list[ConfigProblem] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            child = f"{path}.{name}" if path else str(name)
            if name is not None and name in seen:
                problems.append(ConfigProblem(child, f"duplicate key (first at line {seen[name]})",
                                              line=key.start_mark.line + 1))
            elif name is not None:
                seen[name] = key.start_mark.line + 1
            problems += _duplicate_keys(value, child)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _duplicate_keys(item, f"{path}.{i}")
    return problems


def _fill_placeholders(
    value: object,
    environ: Mapping[str, str],
    path: tuple[str | int, ...],
    root_node: yaml.Node | None,
    problems: list[ConfigProblem],
) -> object:
    """A copy of value with {EMOTION_EDGE_*} in every string replaced from the environment."""
    if isinstance(value, dict):
        return {k: _fill_placeholders(v, environ, (*path, k), root_node, problems)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_placeholders(v, environ, (*path, i), root_node, problems)
                for i, v in enumerate(value)]
    if not isinstance(value, str) or "{" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            problems.append(ConfigProblem(
                ".".join(str(p) for p in path),
                f"placeholder {{{name}}} names an environment variable that is not set",
                line=line_of(root_node, path, missing=False),
            ))
            return match.group(0)
        return environ[name]

    return PLACEHOLDER.sub(substitute, value)


def _apply_overrides(data: dict, environ: Mapping[str, str]) -> dict[str, str]:
    """Apply the seed's MODEL_FILE and IMAGES_DIR; return {dotted key: origin} of each change."""
    origins: dict[str, str] = {}
    for name in ("classifier", "snapshots"):
        if data.get(name) is None:  # absent, or present with nothing under it
            data[name] = {}
    model_file = environ.get(ENV_MODEL_FILE, "").strip()
    if model_file:
        section = data["classifier"]
        if isinstance(section, dict):
            section["model"] = model_file
            origins["classifier.model"] = f"environment variable {ENV_MODEL_FILE}"
    images_dir = environ.get(ENV_IMAGES_DIR, "").strip()
    if images_dir:
        section = data["snapshots"]
        if isinstance(section, dict):
            section["enabled"] = True
            section["directory"] = images_dir
            origins["snapshots.enabled"] = f"environment variable {ENV_IMAGES_DIR}"
            origins["snapshots.directory"] = f"environment variable {ENV_IMAGES_DIR}"
    return origins
