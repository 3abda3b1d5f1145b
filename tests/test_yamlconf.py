"""Line-aware YAML validation: every problem reads `file:line: field: message`."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, field_validator

from concord.yamlconf import ConfigError, load_yaml_file, parse_yaml, validate_yaml


class Server(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: str
    port: int

    @field_validator("host")
    @classmethod
    def _no_spaces(cls, host: str) -> str:
        if " " in host:
            raise ValueError("host names have no spaces")
        return host


class Conf(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    servers: list[Server]
    tags: dict[str, int] = {}


GOOD = """\
name: hub
servers:
  - host: a
    port: 80
tags: {x: 1}
"""

BAD = """\
name: hub
servers:
  - host: a
    port: 80
  - host: b c
    port: eighty
    prot: 81
tags:
  x: 1
  y: two
"""


def problems(text: str, model: type[BaseModel] = Conf) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate_yaml(model, text, "conf.yaml")
    return info.value.problems


def test_valid_document() -> None:
    conf = validate_yaml(Conf, GOOD, "conf.yaml")
    assert conf == Conf(name="hub", servers=[Server(host="a", port=80)], tags={"x": 1})


def test_parse_keeps_the_line_of_every_key_and_item() -> None:
    data, lines = parse_yaml(BAD, "conf.yaml")
    assert data["servers"][1] == {"host": "b c", "port": "eighty", "prot": 81}
    assert lines[()] == 1
    assert lines[("servers", 1)] == 5 and lines[("servers", 1, "port")] == 6 and lines[("tags", "y")] == 10


def test_every_problem_names_its_line_and_field() -> None:
    assert problems(BAD) == [
        "conf.yaml:5: servers[1].host: host names have no spaces",
        "conf.yaml:6: servers[1].port: Input should be a valid integer, unable to parse string as an integer",
        "conf.yaml:7: servers[1].prot: Extra inputs are not permitted",
        "conf.yaml:10: tags.y: Input should be a valid integer, unable to parse string as an integer",
    ]


def test_missing_field_points_at_its_parent() -> None:
    assert problems("servers:\n  - host: a\n") == ["conf.yaml:1: name: Field required",
                                                   "conf.yaml:2: servers[0].port: Field required"]


def test_top_level_that_is_not_a_mapping() -> None:
    [problem] = problems("- just\n- a list\n")
    assert problem.startswith("conf.yaml:1: (top level): Input should be a valid dictionary")


def test_empty_document_is_an_empty_mapping() -> None:
    assert parse_yaml("", "x.yaml") == ({}, {})
    assert problems("# nothing here\n")[0] == "conf.yaml:1: name: Field required"


@pytest.mark.parametrize(("text", "line"), [
    ("name: hub\nservers: [a, b\ntags: {}\n", 3),
    ("name: hub\nservers:\n  - host: a\n\tport: 80\n", 4),
    ("name: hub\n---\nname: other\n", 2),
    ("name: 'unterminated\n", 2),
])
def test_malformed_yaml_names_the_line(text: str, line: int) -> None:
    [problem] = problems(text)
    assert problem.startswith(f"conf.yaml:{line}: malformed YAML: ")


def test_file_loading(tmp_path: Path) -> None:
    path = tmp_path / "conf.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_yaml_file(Conf, path).name == "hub"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{path}:5: servers\[1\].host"):
        load_yaml_file(Conf, path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml_file(Conf, tmp_path / "absent.yaml")
    assert info.value.problems == [f"{tmp_path / 'absent.yaml'}: cannot read: No such file or directory"]


def test_context_reaches_validators() -> None:
    class WithContext(BaseModel):
        value: str

        @field_validator("value")
        @classmethod
        def _allowed(cls, value: str, info: object) -> str:
            allowed = getattr(info, "context", None) or {}
            if value not in allowed.get("allowed", ()):
                raise ValueError(f"{value!r} is not allowed")
            return value

    assert validate_yaml(WithContext, "value: a\n", "c.yaml", {"allowed": ["a"]}).value == "a"
    with pytest.raises(ConfigError, match=r"c\.yaml:1: value: 'b' is not allowed"):
        validate_yaml(WithContext, "value: b\n", "c.yaml", {"allowed": ["a"]})
