"""The SCIM connector against the real scim2-server: discovery, writes, lookups, bulk, membership, changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from concord.connectors.base import AuthError, Conflict, DataRejected
from concord.connectors.runtime.http import InMemoryCallRecorder
from concord.connectors.scim import ScimConfig, ScimConnector, ScimFeatures
from tests.connectors.scim.server import TOKEN, ScimServer, running_scim_server


@pytest.fixture
def server() -> Iterator[ScimServer]:
    with running_scim_server() as running:
        yield running


def make(server: ScimServer, features: ScimFeatures | None = None, **overrides: object) -> ScimConnector:
    values: dict[str, object] = {"base_url": server.url, "bearer_token": SecretStr(TOKEN)}
    values.update(overrides)
    connector = ScimConnector(ScimConfig.model_validate(values), features)
    return connector if features is not None else connector.discover()


@pytest.fixture
def scim(server: ScimServer) -> Iterator[ScimConnector]:
    connector = make(server)
    yield connector
    connector.close()


def test_discovery_reads_the_service_provider_config_and_probes_last_modified(scim: ScimConnector) -> None:
    features = scim.features
    assert features.patch and features.sort and features.etag and features.last_modified_filter
    assert features.bulk_max_operations == 1000
    caps = scim.capabilities
    assert caps.bulk_batch_size == 100  # our own cap, under the provider's maxOperations
    assert caps.cursor_field == "meta.lastModified" and caps.upsert_by_external_id and not caps.webhooks
    assert caps.idempotency_header is None and caps.objects == ("Users", "Groups")


def test_create_is_once_per_key_and_a_taken_user_name_is_a_conflict(server: ScimServer, scim: ScimConnector) -> None:
    first = scim.create("Users", {"userName": "ann"}, idempotency_key="key-1")
    again = scim.create("Users", {"userName": "ann"}, idempotency_key="key-1")
    assert first.id == again.id and first.fields["externalId"] == "key-1"
    assert server.count("User") == 1
    with pytest.raises(Conflict):
        scim.create("Users", {"userName": "ANN"}, idempotency_key="key-2")  # userName is case-insensitive
    with pytest.raises(DataRejected) as caught:
        scim.create("Users", {"displayName": "no user name"}, idempotency_key="key-3")
    assert (caught.value.field, caught.value.code) == ("userName", "invalidValue")


def test_update_changes_only_the_given_attributes_and_upsert_converges(scim: ScimConnector) -> None:
    made = scim.upsert("Users", "externalId", "crm-7", {"userName": "bob", "name": {"givenName": "Bob"}})
    scim.update("Users", made.id, {"title": "Admin"})
    again = scim.upsert("Users", "externalId", "crm-7", {"userName": "bob", "displayName": "Bob B"})
    assert again.id == made.id
    read = scim.read("Users", made.id)
    assert read is not None
    fields = read.fields
    assert (fields["title"], fields["displayName"], fields["name"]) == ("Admin", "Bob B", {"givenName": "Bob"})
    with pytest.raises(DataRejected):
        scim.upsert("Users", "userName", "bob", {})


def test_search_and_read(scim: ScimConnector, server: ScimServer) -> None:
    for n in range(5):
        scim.create("Users", {"userName": f"user{n}", "title": "Staff"}, idempotency_key=f"k{n}")
    paged = make(server, page_size=2)
    try:
        found = paged.search("Users", {"title": "Staff"}, limit=5)
        assert sorted(r.fields["userName"] for r in found) == [f"user{n}" for n in range(5)]
        assert len(paged.search("Users", {"title": "Staff"}, limit=3)) == 3
    finally:
        paged.close()
    assert [r.fields["externalId"] for r in scim.search("Users", {"userName": "USER3"})] == ["k3"]
    assert scim.search("Users", {"userName": "nobody"}) == []
    assert scim.read("Users", "does-not-exist") is None
    with pytest.raises(DataRejected):
        scim.search("Roles", {"name": "x"})


def test_group_membership_changes_are_idempotent(scim: ScimConnector) -> None:
    ann = scim.create("Users", {"userName": "ann"}, idempotency_key="u-ann")
    bob = scim.create("Users", {"userName": "bob"}, idempotency_key="u-bob")
    group = scim.create("Groups", {"displayName": "Admins"}, idempotency_key="g-admins")
    assert scim.create("Groups", {"displayName": "Admins"}, idempotency_key="g-admins").id == group.id
    scim.add_members(group.id, [ann.id, bob.id])
    scim.add_members(group.id, [ann.id])

    def members() -> list[str]:
        read = scim.read("Groups", group.id)
        assert read is not None
        return sorted(m["value"] for m in read.fields.get("members") or [])

    assert members() == sorted([ann.id, bob.id])
    scim.remove_members(group.id, [ann.id])
    scim.remove_members(group.id, [ann.id])
    assert members() == [bob.id]


def test_membership_without_patch_falls_back_to_put(server: ScimServer, scim: ScimConnector) -> None:
    ann = scim.create("Users", {"userName": "ann"}, idempotency_key="u-ann")
    group = scim.create("Groups", {"displayName": "Ops"}, idempotency_key="g-ops")
    plain = make(server, ScimFeatures(etag=True))
    try:
        plain.add_members(group.id, [ann.id])
        read = plain.read("Groups", group.id)
        assert read is not None and [m["value"] for m in read.fields["members"]] == [ann.id]
        plain.remove_members(group.id, [ann.id])
        after = plain.read("Groups", group.id)
        assert after is not None and not after.fields.get("members")
    finally:
        plain.close()


def test_create_many_users_goes_through_bulk_and_repeats_find_the_first(server: ScimServer) -> None:
    recorder = InMemoryCallRecorder()
    scim = ScimConnector(ScimConfig(base_url=server.url, bearer_token=SecretStr(TOKEN)), recorder=recorder).discover()
    items = [(f"k{n}", {"userName": f"user{n}"}) for n in range(5)]
    first = scim.create_many("Users", items)
    assert [r.action for r in first] == ["created"] * 5
    repeat = scim.create_many("Users", [*items[:2], ("k-bad", {"displayName": "nameless"})])
    assert [(r.action, r.id) for r in repeat[:2]] == [("existing", first[0].id), ("existing", first[1].id)]
    assert (repeat[2].action, repeat[2].field) == ("failed", "userName")
    assert server.count("User") == 5
    assert recorder.counts()[("scim", "bulk", "ok")] == 2
    scim.close()


def test_create_many_groups_one_by_one_without_duplicates(server: ScimServer) -> None:
    recorder = InMemoryCallRecorder()
    scim = ScimConnector(ScimConfig(base_url=server.url, bearer_token=SecretStr(TOKEN)), recorder=recorder).discover()
    items = [(f"g{n}", {"displayName": f"Group {n}"}) for n in range(3)]
    assert [r.action for r in scim.create_many("Groups", items)] == ["created"] * 3
    assert [r.action for r in scim.create_many("Groups", items)] == ["existing"] * 3
    assert server.count("Group") == 3
    assert ("scim", "bulk", "ok") not in recorder.counts()  # groups have no unique key to lean on
    scim.close()


def test_upsert_many_updates_existing_and_creates_new(server: ScimServer, scim: ScimConnector) -> None:
    old = scim.create("Users", {"userName": "old"}, idempotency_key="e-1")
    results = scim.upsert_many("Users", [("e-1", {"userName": "old", "title": "Boss"}), ("e-2", {"userName": "new"})])
    assert [(r.external_id, r.action) for r in results] == [("e-1", "updated"), ("e-2", "created")]
    assert results[0].id == old.id
    read = scim.read("Users", old.id)
    assert read is not None and read.fields["title"] == "Boss"
    assert server.count("User") == 2


def test_changes_since_follows_last_modified_without_repeats(scim: ScimConnector, server: ScimServer) -> None:
    paged = make(server, page_size=2)
    try:
        made = [paged.create("Users", {"userName": f"u{n}"}, idempotency_key=f"k{n}") for n in range(5)]
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(10):
            page = paged.changes_since("Users", cursor)
            seen.extend(r.id for r in page.records)
            cursor = page.cursor
            if not page.has_more:
                break
        assert seen == [r.id for r in made]
        assert paged.changes_since("Users", cursor).records == []
        paged.update("Users", made[1].id, {"title": "changed"})
        later = paged.changes_since("Users", cursor)
        assert [r.id for r in later.records] == [made[1].id] and later.records[0].modified_at is not None
        with pytest.raises(DataRejected) as caught:
            paged.changes_since("Users", "not-a-time|x")
        assert caught.value.field == "cursor"
    finally:
        paged.close()


def test_without_last_modified_filtering_changes_since_is_a_full_listing(
    server: ScimServer, scim: ScimConnector
) -> None:
    for n in range(3):
        scim.create("Users", {"userName": f"u{n}"}, idempotency_key=f"k{n}")
    plain = make(server, ScimFeatures(), page_size=2)
    try:
        assert plain.capabilities.cursor_field is None and plain.capabilities.bulk_batch_size == 1
        first = plain.changes_since("Users", None)
        second = plain.changes_since("Users", first.cursor)
        assert (len(first.records), first.has_more, len(second.records), second.has_more) == (2, True, 1, False)
        assert second.cursor is None  # the next poll starts the listing over
    finally:
        plain.close()


def test_a_wrong_token_is_refused_and_a_refresher_recovers(server: ScimServer) -> None:
    config = ScimConfig(base_url=server.url, bearer_token=SecretStr("stale"))
    refused = ScimConnector(config)
    with pytest.raises(AuthError):
        refused.read("Users", "x")
    refused.close()
    recovered = ScimConnector(config, refresher=lambda: TOKEN)
    assert recovered.read("Users", "x") is None
    recovered.close()
