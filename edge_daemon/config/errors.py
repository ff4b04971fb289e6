"""Configuration problems: one typed record each, all reported at once with path and line."""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]

# Errors whose message already says all there is about the value.
NO_VALUE_ERRORS = ("missing", "extra_forbidden", "union_tag_invalid", "union_tag_not_found")

# Unknown keys that users are likely to write, with what to do instead.
KEY_HINTS = {
    "mqtt.password": "; the password is never read from the YAML: set the environment "
    "variable EMOTION_EDGE_MQTT_PASSWORD or the systemd credential named by "
    "secrets.mqtt_password_credential",
}


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the configuration."""

    path: str  # dotted key path, e.g. "cameras.front.source.fps"; "" for the whole file
    reason: str
    line: int | None = None  # 1-based line in the YAML file, when known
    value: str | None = None  # the offending value, shortened and with secrets masked
    origin: str | None = None  # where a value came from when not the file (an env variable)

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        text = f"{where}{self.path or '(file)'}: {self.reason}"
        if self.value is not None:
            text += f" (got {self.value})"
        if self.origin:
            text += f" [from {self.origin}]"
        return text


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists everything wrong with it."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(self.report())

    def report(self) -> str:
        """A header line, then one line per problem."""
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        lines = [f"{self.source}: {count} configuration {noun}:"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


def problems_from_validation(
    exc: ValidationError,
    model: type[BaseModel],
    root_node: yaml.Node | None,
    origins: dict[str, str],
) -> list[ConfigProblem]:
    """Turn pydantic's errors into problems with clean paths, YAML lines and masked values."""
    problems = []
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        clean = _clean_path(loc, model)
        key = _picked_by_function(error)
        if key:  # the tag a function read (detector.backend): point at its key
            clean = (*clean, key)
        dotted = _dotted(clean)
        origin = next((o for p, o in origins.items() if dotted == p or dotted.startswith(p + ".")),
                      None)
        line = None if origin else line_of(root_node, clean, error["type"] == "missing")
        show_value = error["type"] not in NO_VALUE_ERRORS and not origin
        problems.append(ConfigProblem(
            path=dotted,
            reason=_reason(error, model, loc),
            line=line,
            value=_shown(error.get("input"), dotted) if show_value else None,
            origin=origin,
        ))
    return problems


def _picked_by_function(error: dict) -> str | None:
    """The key a discriminator function read, for a tag it found no member for."""
    name = str((error.get("ctx") or {}).get("discriminator", ""))
    if error["type"] == "union_tag_invalid" and name.endswith("()"):
        return name.removesuffix("()")
    return None


def _dotted(path: Loc) -> str:
    return ".".join(str(s) for s in path)


def _reason(error: dict, model: type[BaseModel], loc: Loc) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "required, but missing"
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        hint = ""
        if allowed:
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
        return f"unknown key{KEY_HINTS.get(_dotted(_clean_path(loc, model)), hint)}"
    if kind == "union_tag_invalid":
        key = _picked_by_function(error) or "type"
        return f"unknown {key} {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"missing the key {ctx.get('discriminator', 'type')!s}"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message[:1].lower() + message[1:]


def _clean_path(loc: Loc, model: type[BaseModel]) -> Loc:
    """The loc without the tags pydantic inserts after a discriminated union's field."""
    out: list[str | int] = []
    current: object = model
    for seg in loc:
        step = _step(current, seg)
        if not _is_union(current) or step is None:
            out.append(seg)  # a union member picked by its tag is not a key of the file
        current = step
    return tuple(out)


def _is_union(annotation: object) -> bool:
    return typing.get_origin(_unwrap(annotation)) in (typing.Union, types.UnionType)


def line_of(root: yaml.Node | None, path: Loc, missing: bool) -> int | None:
    """1-based line of the key at path (of its parent mapping for a missing key)."""
    node, key_node = root, None
    for i, seg in enumerate(path):
        child = _child_node(node, seg)
        if child is None:
            return _line(key_node or node) if missing and i == len(path) - 1 else None
        key_node, node = child
    return _line(key_node or node)


def _child_node(
    node: yaml.Node | None, seg: str | int
) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        found = None
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(seg):
                found = (key, value)  # the last duplicate wins, as in the loaded data
        return found
    if isinstance(node, yaml.SequenceNode):
        if isinstance(seg, int):
            return (None, node.value[seg]) if 0 <= seg < len(node.value) else None
        for item in node.value:  # the list form of `cameras`: items are found by name
            name = _child_node(item, "name")
            if name and isinstance(name[1], yaml.ScalarNode) and name[1].value == seg:
                return (None, item)
    return None


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys the model accepts at loc (a pydantic loc, tags included); [] when unknown."""
    current: object = model
    for seg in loc:
        current = _step(current, seg)
        if current is None:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _step(annotation: object, seg: str | int) -> object:
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(seg))
        return field.annotation if field else None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is dict:
        return args[1]
    if origin is list:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        for member in args:  # a discriminated union: seg is the member's tag literal
            member = _unwrap(member)
            for tag in ("type", "backend"):
                field = getattr(member, "model_fields", {}).get(tag)
                if field is not None and seg in typing.get_args(field.annotation):
                    return member
    return None


def _unwrap(annotation: object) -> object:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _unwrap(rest[0])
    return annotation


def _shown(value: object, path: str) -> str:
    """A short representation of a bad value that never prints a secret."""
    if any(word in path.lower() for word in ("password", "secret", "token")):
        return "'***'"
    if isinstance(value, str) and "@" in value and "://" in value:
        parts = urlsplit(value)
        if parts.password:
            value = value.replace(f":{parts.password}@", ":***@", 1)
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
