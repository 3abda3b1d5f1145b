"""Batch clustering: transitive merges, the guard against chaining, and the cluster size cap."""

from __future__ import annotations

from concord.matching.batch import cluster, dedupe
from concord.matching.decision import MatchDecision, MatchSettings, Outcome
from concord.matching.specs import CONTACT

JANE = CONTACT.project({"first_name": "Jane", "last_name": "Doe", "email": "jane.doe@acme.io",
                        "phone": "+4930111111", "account_id": "acc-1"})
JOHN = CONTACT.project({"first_name": "John", "last_name": "Smith", "email": "js@globex.com",
                        "phone": "+15125550100", "account_id": "acc-2"})


def _link(a: str, b: str, score: float) -> MatchDecision:
    return MatchDecision(a, b, score, Outcome.LINK, ())


def test_links_merge_transitively_into_one_cluster() -> None:
    rows = {"a": JANE, "b": JANE, "c": JANE, "z": JOHN}
    decisions, clusters = cluster([_link("a", "b", 30), _link("b", "c", 25)], rows, CONTACT.model(),
                                  MatchSettings())
    assert clusters == [["a", "b", "c"]]
    assert all(d.outcome is Outcome.LINK for d in decisions)


def test_a_chain_through_a_shared_record_does_not_merge_clearly_different_ones() -> None:
    rows = {"a": JANE, "b": JANE, "c": JOHN, "d": JOHN}
    links = [_link("a", "b", 30), _link("c", "d", 29), _link("b", "c", 20)]  # b~c is the suspicious bridge
    decisions, clusters = cluster(links, rows, CONTACT.model(), MatchSettings())
    assert clusters == [["a", "b"], ["c", "d"]]
    bridge = decisions[-1]
    assert bridge.outcome is Outcome.REVIEW and "(chain)" in bridge.reason


def test_clusters_never_grow_past_the_cap() -> None:
    rows = {k: JANE for k in "abcd"}
    links = [_link("a", "b", 30), _link("c", "d", 30), _link("a", "c", 30)]
    decisions, clusters = cluster(links, rows, CONTACT.model(), MatchSettings(max_cluster=3))
    assert clusters == [["a", "b"], ["c", "d"]]
    assert decisions[-1].outcome is Outcome.REVIEW and "exceed 3" in decisions[-1].reason


def test_dedupe_keeps_review_pairs_and_drops_clear_non_matches() -> None:
    near = CONTACT.project({"first_name": "Jane", "last_name": "Doe"})  # the name alone identifies no one
    run = dedupe(CONTACT, ["a", "b", "c", "z"], [JANE, JANE, near, JOHN], MatchSettings())
    assert run.clusters == [["a", "b"]]
    assert {frozenset((d.left_id, d.right_id)) for d in run.review} == {frozenset(("a", "c")),
                                                                         frozenset(("b", "c"))}
    assert all("z" not in (d.left_id, d.right_id) for d in run.decisions)
    assert run.candidates >= 3
