"""Finding a NUL anywhere in JSON input, named by its path (concord.jsonguard)."""

from __future__ import annotations

import orjson

from concord.jsonguard import holds_nul, nul_json_path, nul_path


def test_nul_path_names_the_offending_string_or_key() -> None:
    batch = {"changes": [{"external_id": "ok", "fields": {"Name": "fine"}},
                         {"external_id": "ok", "fields": {"Name": "bad\x00", "City": "also\x00"}}]}
    assert nul_path(batch) == "changes.1.fields.Name"
    assert nul_path({"fields": {"a\x00b": 1}}) == "fields.a\\u0000b"  # the key, echoed without the character
    assert nul_path("x\x00") == "body"
    assert nul_path({"fields": {"n": [1, None, True, 2.5, "ok"]}}) is None
    assert nul_path(5) is None and nul_path(None) is None
    assert nul_path({"Name": "x\x00"}, "fields") == "fields.Name"


def test_deep_documents_do_not_exhaust_the_stack() -> None:
    deep: object = "\x00"
    for _ in range(5000):
        deep = [deep]
    assert nul_path(deep) == ".".join(["0"] * 5000)


def test_nul_json_path_parses_only_bodies_that_can_hold_a_nul() -> None:
    assert nul_json_path(orjson.dumps({"fields": {"Name": "a\x00"}})) == "fields.Name"
    assert nul_json_path(b'{"fields": {"Name": "a\\u0000"}}') == "fields.Name"
    # an escaped backslash followed by "u0000" is six ordinary characters, not a NUL
    assert nul_json_path(b'{"fields": {"Name": "C:\\\\u0000"}}') is None
    assert nul_json_path(b'{"fields": {"Name": "plain"}}') is None
    assert nul_json_path(b'{"a": "\x00"}') == "body"  # a raw NUL byte is not JSON, and is refused as such
    assert nul_json_path(b'{"a": "x\\u0000') == "body"  # refused either way: not JSON, and a NUL in it
    assert nul_json_path(b'{"a": "x\\\\u0000') is None  # not JSON, no NUL: left to the route's own parser


def test_holds_nul_tells_an_escape_from_an_escaped_backslash() -> None:
    assert holds_nul(b'"\\u0000"') and holds_nul(b'"\\\\\\u0000"')  # \u0000 and \\\u0000
    assert not holds_nul(b'"\\\\u0000"') and not holds_nul(b'"\\\\\\\\u0000"')  # \\u0000, \\\\u0000
    assert holds_nul(b'{"a": "ok \\\\u0000", "b": "\\u0000"}')  # the second one is real
