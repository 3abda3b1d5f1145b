"""Survivorship for a merge: one golden record from two, by the same order the ownership gate keeps (pure).

For every field the value that wins is the one the gate would have kept had both records' writes reached one
record: an authoritative value (the owner's, or a steward-approved one) beats any other, then the newer source
time. So the owner's value wins, and each field keeps the provenance of the write it came from.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from concord.canonical.golden import FieldValue, GoldenRecord
from concord.ownership.gate import outranks


def _fields(survivor: GoldenRecord, absorbed: GoldenRecord) -> dict[str, FieldValue]:
    fields = dict(survivor.fields)
    for path, candidate in absorbed.fields.items():
        current = fields.get(path)
        if current is None or (current.value is None and candidate.value is not None and
                               candidate.authoritative >= current.authoritative) or outranks(candidate, current):
            fields[path] = candidate
    return fields


def _newer_reports(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = dict(a)
    for system, seen in b.items():
        if system not in out or seen["t"] > out[system]["t"]:
            out[system] = seen
    return out


def _echoes(a: dict[str, dict[str, list[str]]], b: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
    out = {system: dict(paths) for system, paths in a.items()}
    for system, paths in b.items():
        mine = out.setdefault(system, {})
        for path, marks in paths.items():
            mine[path] = [*mine.get(path, []), *(m for m in marks if m not in mine.get(path, []))]
    return out


def survive(survivor: GoldenRecord, absorbed: GoldenRecord) -> GoldenRecord:
    """The merged record under the survivor's id (its version unchanged: the caller bumps it on write)."""
    if (survivor.tenant, survivor.entity) != (absorbed.tenant, absorbed.entity):
        raise ValueError("only records of the same tenant and entity merge")
    synced = {**absorbed.synced, **{s: max(t, absorbed.synced.get(s, 0.0)) for s, t in survivor.synced.items()}}
    return replace(survivor, fields=_fields(survivor, absorbed),
                   echo_marks=_echoes(survivor.echo_marks, absorbed.echo_marks),
                   creating=sorted(set(survivor.creating) | set(absorbed.creating)), synced=synced,
                   reported=_newer_reports(survivor.reported, absorbed.reported))
