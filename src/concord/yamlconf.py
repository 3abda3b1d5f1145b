"""YAML configuration loading that keeps line numbers, so a bad file is reported as file:line: field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


class Located(ValueError):
    """Raised by a whole-document check to say where its problem is: `loc` is printed, `line_loc` (default
    `loc`) finds the line."""

    def __init__(self, loc: Loc, message: str, line_loc: Loc | None = None) -> None:
        super().__init__(f"{_format_loc(loc)}: {message}")  # stands alone when validated outside a file
        self.loc = loc
        self.line_loc = line_loc or loc
        self.message = message


class ConfigError(ValueError):
    """A configuration file is malformed or invalid; the message names file, line and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _to_python(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            lines[(*loc, key)] = key_node.start_mark.line + 1
            out[key] = _to_python(value_node, (*loc, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(child, (*loc, i), lines) for i, child in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def parse_yaml(text: str, source: str) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML into plain Python, with a map from each key path to its line number."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ConfigError([f"{where}: malformed YAML: {getattr(exc, 'problem', None) or exc}"]) from exc
    lines: dict[Loc, int] = {}
    return ({} if node is None else _to_python(node, (), lines)), lines


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def _format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validate_yaml(model: type[M], text: str, source: str, context: dict[str, Any] | None = None) -> M:
    """Parse and validate; every problem is reported as `file:line: field: message`."""
    data, lines = parse_yaml(text, source)
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError([_problem(err, source, lines) for err in exc.errors()]) from exc


def error_location(err: Any) -> tuple[Loc, Loc, str]:
    """Where a pydantic error is (field path, path of its line) and its message, a `Located` check's included."""
    loc: Loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    msg = err["msg"].removeprefix("Value error, ")
    located = (err.get("ctx") or {}).get("error")
    if isinstance(located, Located):
        return (*loc, *located.loc), (*loc, *located.line_loc), located.message
    return loc, loc, msg


def _problem(err: Any, source: str, lines: dict[Loc, int]) -> str:
    loc, line_loc, msg = error_location(err)
    return f"{source}:{_line_for(line_loc, lines)}: {_format_loc(loc)}: {msg}"


def load_yaml_file(model: type[M], path: Path, context: dict[str, Any] | None = None) -> M:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    return validate_yaml(model, text, str(path), context)
