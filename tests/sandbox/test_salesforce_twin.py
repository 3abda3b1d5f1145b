"""The Salesforce twin driven by the vendor's own client (simple_salesforce) and by raw HTTP.

simple_salesforce always speaks https to `<instance>` and `<domain>.salesforce.com`; a requests transport
adapter sends those calls to the twin's plain-http loopback port instead, leaving paths, bodies and status
handling to the real client code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from concord.sandbox.salesforce import SalesforceTwinSettings
from concord.sandbox.salesforce.ids import normalize_id
from concord.sandbox.salesforce.testing import FakeClock, RunningTwin, running_twin

API = "/services/data/v60.0"
SETTINGS = SalesforceTwinSettings()


class ToTwin(HTTPAdapter):
    """Route every https request (instance or login host) to the twin's http address."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.netloc = urlsplit(base_url).netloc

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        parts = urlsplit(request.url or "")
        request.url = urlunsplit(("http", self.netloc, parts.path, parts.query, parts.fragment))
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


def http_session(twin: RunningTwin) -> requests.Session:
    session = requests.Session()
    session.mount("https://", ToTwin(twin.base_url))
    return session


def connect(twin: RunningTwin, version: str = "60.0") -> Salesforce:
    return Salesforce(instance_url=twin.base_url, session_id=twin.session_id(), version=version,
                      session=http_session(twin))


def login(twin: RunningTwin, secret: str = SETTINGS.client_secret) -> Salesforce:
    """The client-credentials flow exactly as simple_salesforce runs it (Basic auth to the My Domain host)."""
    return Salesforce(consumer_key=SETTINGS.client_id, consumer_secret=secret, domain="concord-twin",
                      version="60.0", session=http_session(twin))


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def server(clock: FakeClock) -> Iterator[RunningTwin]:
    with running_twin(SalesforceTwinSettings(clock=clock, query_batch_size=5)) as twin:
        yield twin


@pytest.fixture
def twin(server: RunningTwin) -> RunningTwin:
    server.state.reset()
    return server


@pytest.fixture
def sf(twin: RunningTwin) -> Salesforce:
    return connect(twin)


@pytest.fixture
def http(twin: RunningTwin) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {twin.session_id()}"}
    with httpx.Client(base_url=twin.base_url + API, headers=headers) as client:
        yield client


def error_of(exc: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    content = exc.value.content
    assert isinstance(content, list) and len(content) == 1, content
    error: dict[str, Any] = content[0]
    return error


# --- OAuth and sessions ---------------------------------------------------------------------------------


def test_client_credentials_token_has_salesforce_fields_and_valid_signature(twin: RunningTwin) -> None:
    form = {"grant_type": "client_credentials", "client_id": SETTINGS.client_id,
            "client_secret": SETTINGS.client_secret}
    body = httpx.post(f"{twin.base_url}/services/oauth2/token", data=form).json()
    assert body["token_type"] == "Bearer" and body["instance_url"] == twin.base_url
    assert body["access_token"].startswith(SETTINGS.org_id[:15] + "!")
    assert "refresh_token" not in body  # the client-credentials flow never issues one
    expected = hmac.new(SETTINGS.client_secret.encode(), (body["id"] + body["issued_at"]).encode(),
                        hashlib.sha256).digest()
    assert base64.b64decode(body["signature"]) == expected
    assert int(body["issued_at"]) == int(twin.state.settings.clock().timestamp() * 1000)


def test_simple_salesforce_client_credentials_login_reaches_the_org(twin: RunningTwin) -> None:
    sf = login(twin)
    assert sf.sf_instance == urlsplit(twin.base_url).netloc
    assert sf.Account.create({"Name": "Via OAuth"})["success"] is True


@pytest.mark.parametrize(("client_id", "secret", "error"), [
    (SETTINGS.client_id, "wrong-secret-value", "invalid_client"),
    ("unknown-app", SETTINGS.client_secret, "invalid_client_id"),
])
def test_wrong_client_credentials_are_rejected(twin: RunningTwin, client_id: str, secret: str,
                                               error: str) -> None:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    response = httpx.post(f"{twin.base_url}/services/oauth2/token", data=form)
    assert response.status_code == 400 and response.json()["error"] == error
    assert "error_description" in response.json()


def test_simple_salesforce_login_with_bad_secret_fails(twin: RunningTwin) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        login(twin, secret="not-the-secret")
    assert exc.value.code == "invalid_client"


def test_refresh_token_grant(twin: RunningTwin) -> None:
    refresh = httpx.post(f"{twin.base_url}/__twin__/refresh-tokens").json()["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": SETTINGS.client_id,
            "client_secret": SETTINGS.client_secret}
    body = httpx.post(f"{twin.base_url}/services/oauth2/token", data=form).json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert httpx.get(f"{twin.base_url}{API}/limits", headers=headers).status_code == 200
    bad = httpx.post(f"{twin.base_url}/services/oauth2/token", data={**form, "refresh_token": "nope"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    unsupported = httpx.post(f"{twin.base_url}/services/oauth2/token", data={**form, "grant_type": "magic"})
    assert unsupported.json()["error"] == "unsupported_grant_type"


def test_expired_session_raises_salesforce_expired_session(twin: RunningTwin, sf: Salesforce) -> None:
    record_id = sf.Account.create({"Name": "Before expiry"})["id"]
    assert httpx.post(f"{twin.base_url}/__twin__/expire-tokens").json()["expired"] >= 1
    with pytest.raises(SalesforceExpiredSession) as exc:
        sf.Account.get(record_id)
    assert exc.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_token_lifetime_follows_the_clock(twin: RunningTwin, clock: FakeClock, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Account")
    clock.advance(SETTINGS.token_lifetime_s + 1)
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account")


def test_oauth_client_refreshes_its_session_after_expiry(twin: RunningTwin) -> None:
    sf = login(twin)
    first = sf.session_id
    httpx.post(f"{twin.base_url}/__twin__/expire-tokens")
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0
    assert sf.session_id != first


def test_missing_or_unknown_bearer_token(twin: RunningTwin) -> None:
    missing = httpx.get(f"{twin.base_url}{API}/limits")
    assert missing.status_code == 401 and missing.json()[0]["errorCode"] == "INVALID_AUTH_HEADER"
    unknown = httpx.get(f"{twin.base_url}{API}/limits", headers={"Authorization": "Bearer forged"})
    assert unknown.status_code == 401 and unknown.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    assert "sforce-limit-info" not in unknown.headers


# --- sObject rows -------------------------------------------------------------------------------------------


def test_create_get_update_delete_account(twin: RunningTwin, clock: FakeClock, sf: Salesforce) -> None:
    created = sf.Account.create({"Name": "Acme", "Concord_Id__c": "acc-1", "NumberOfEmployees": "120",
                                 "AnnualRevenue": 5000000, "Credit_Status__c": "OK", "Phone": ""})
    assert created == {"id": created["id"], "success": True, "errors": []}
    record_id = created["id"]
    assert len(record_id) == 18 and record_id.startswith("001") and normalize_id(record_id[:15]) == record_id
    record = sf.Account.get(record_id)
    assert record["attributes"] == {"type": "Account", "url": f"{API}/sobjects/Account/{record_id}"}
    assert (record["Name"], record["NumberOfEmployees"], record["AnnualRevenue"]) == ("Acme", 120, 5000000.0)
    assert record["Phone"] is None and record["IsDeleted"] is False  # "" is stored as null
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", record["SystemModstamp"])
    assert record["CreatedDate"] == record["LastModifiedDate"] == record["SystemModstamp"]

    clock.advance(60)
    assert sf.Account.update(record_id, {"Industry": "Retail"}) == 204
    updated = sf.Account.get(record_id)
    assert updated["Industry"] == "Retail" and updated["CreatedDate"] == record["CreatedDate"]
    assert updated["SystemModstamp"] > record["SystemModstamp"]
    assert updated["LastModifiedDate"] == updated["SystemModstamp"]

    assert sf.Account.delete(record_id) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(record_id)
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Account.delete(record_id)
    assert error_of(exc)["errorCode"] == "ENTITY_IS_DELETED"


def test_contact_and_opportunity_prefixes_and_derived_fields(sf: Salesforce) -> None:
    account_id = sf.Account.create({"Name": "Parent"})["id"]
    contact_id = sf.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "AccountId": account_id[:15],
                                    "Email": "ada@example.com"})["id"]
    opportunity = sf.Opportunity.create({"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2024-03-31",
                                         "Amount": 1200.5, "AccountId": account_id})
    assert contact_id.startswith("003") and opportunity["id"].startswith("006")
    contact = sf.Contact.get(contact_id)
    assert contact["Name"] == "Ada Lovelace" and contact["AccountId"] == account_id  # 15 → 18 characters
    deal = sf.Opportunity.get(opportunity["id"])
    assert (deal["CloseDate"], deal["Amount"]) == ("2024-03-31", 1200.5)


def test_get_with_fields_parameter_and_by_external_id(sf: Salesforce) -> None:
    record_id = sf.Account.create({"Name": "Keyed", "Concord_Id__c": "k-1", "Website": "example.com"})["id"]
    record = sf.Account.get(record_id, params={"fields": "Name,Website"})
    assert list(record) == ["attributes", "Name", "Website"]
    by_key = sf.Account.get_by_custom_id("Concord_Id__c", "K-1")  # external ids match case-insensitively
    assert by_key["Id"] == record_id
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Account.get_by_custom_id("Name", "Keyed")
    assert error_of(exc)["message"] == "Provided external ID field does not exist or is not accessible: Name"


@pytest.mark.parametrize(("body", "status", "expected"), [
    ({"Name": "X", "Colour__c": "red"}, 400,
     {"message": "No such column 'Colour__c' on sobject of type Account", "errorCode": "INVALID_FIELD"}),
    ({"Industry": "Retail"}, 400,
     {"message": "Required fields are missing: [Name]", "errorCode": "REQUIRED_FIELD_MISSING",
      "fields": ["Name"]}),
    ({"Name": "X", "NumberOfEmployees": "many"}, 400,
     {"message": "Cannot deserialize instance of int from VALUE_STRING value many or request may be missing a "
      "required field at [line:1, column:33]", "errorCode": "JSON_PARSER_ERROR"}),
    ({"Name": {"first": "X"}}, 400,
     {"message": "Cannot deserialize instance of string from START_OBJECT value { or request may be missing "
      "a required field at [line:1, column:9]", "errorCode": "JSON_PARSER_ERROR"}),
    ({"Name": "X", "SystemModstamp": "2024-01-01T00:00:00Z"}, 400,
     {"message": "Unable to create/update fields: SystemModstamp. Please check the security settings of this "
      "field and verify that it is read/write for your profile or permission set.",
      "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE", "fields": ["SystemModstamp"]}),
    ({"Name": "X" * 256}, 400,
     {"message": f"Account Name: data value too large: {'X' * 256} (max length=255)",
      "errorCode": "STRING_TOO_LONG", "fields": ["Name"]}),
    ({"Name": "X", "ParentId": "not-an-id"}, 400,
     {"message": "Parent Account ID: id value of incorrect type: not-an-id", "errorCode": "MALFORMED_ID",
      "fields": ["ParentId"]}),
])
def test_create_errors_have_salesforce_shapes(http: httpx.Client, body: dict[str, Any], status: int,
                                              expected: dict[str, Any]) -> None:
    response = http.post("/sobjects/Account/", content=_compact(body))
    assert response.status_code == status
    assert response.json() == [expected]
    assert re.fullmatch(r"api-usage=\d+/15000", response.headers["sforce-limit-info"])


def _compact(body: dict[str, Any]) -> str:
    import json

    return json.dumps(body, separators=(",", ":"))


def test_malformed_json_and_unknown_object(http: httpx.Client) -> None:
    broken = http.post("/sobjects/Account", content='{"Name": ')
    assert broken.status_code == 400 and broken.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    unknown = http.post("/sobjects/Widget__c", json={"Name": "x"})
    assert unknown.status_code == 404
    assert unknown.json() == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
    put = http.put("/sobjects/Account/0015g0000000001AAA", json={})
    assert put.status_code == 405
    assert put.json()[0]["message"] == "HTTP Method 'PUT' not allowed. Allowed are GET,HEAD,PATCH,DELETE"


def test_duplicate_external_id_and_bad_references(sf: Salesforce) -> None:
    first = sf.Account.create({"Name": "One", "Concord_Id__c": "dup-1"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.create({"Name": "Two", "Concord_Id__c": "DUP-1"})
    assert error_of(exc) == {"message": "duplicate value found: Concord_Id__c duplicates value on record with "
                             f"id: {first}", "errorCode": "DUPLICATE_VALUE", "fields": []}
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Orphan", "AccountId": first.replace("001", "003", 1)})
    assert error_of(exc)["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Bad mail", "Email": "not an email"})
    assert error_of(exc) == {"message": "Email: invalid email address: not an email",
                             "errorCode": "INVALID_EMAIL_ADDRESS", "fields": ["Email"]}
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Opportunity.create({"Name": "No stage"})
    assert error_of(exc)["fields"] == ["StageName", "CloseDate"]


def test_unknown_record_id_is_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as exc:
        sf.Account.update("0015g00000zzzzzAAA"[:15], {"Name": "ghost"})
    assert error_of(exc) == {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}


def test_parent_set_through_its_external_id(sf: Salesforce) -> None:
    account_id = sf.Account.create({"Name": "Parent", "Concord_Id__c": "parent-1"})["id"]
    contact_id = sf.Contact.create({"LastName": "Child", "Account": {"Concord_Id__c": "parent-1"}})["id"]
    assert sf.Contact.get(contact_id)["AccountId"] == account_id
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Lost", "Account": {"Concord_Id__c": "missing"}})
    assert error_of(exc)["message"] == ("Foreign key external ID: missing not found for field Concord_Id__c in "
                                        "entity Account")


def test_describe_lists_fields_and_external_id(sf: Salesforce) -> None:
    describe = sf.Account.describe()
    assert (describe["name"], describe["keyPrefix"]) == ("Account", "001")
    fields = {field["name"]: field for field in describe["fields"]}
    assert {"Concord_Id__c", "ERP_Customer_Number__c", "Lifecycle_Stage__c", "BillingPostalCode",
            "ShippingCountry", "OwnerId", "SystemModstamp"} <= set(fields)
    key = fields["Concord_Id__c"]
    assert (key["externalId"], key["unique"], key["custom"], key["type"]) == (True, True, True, "string")
    assert (fields["Name"]["nillable"], fields["Name"]["createable"]) == (False, True)
    assert (fields["SystemModstamp"]["type"], fields["SystemModstamp"]["updateable"]) == ("datetime", False)
    assert fields["ParentId"]["referenceTo"] == ["Account"]
    contact = {field["name"]: field for field in sf.Contact.describe()["fields"]}
    assert contact["LastName"]["nillable"] is False and contact["Email"]["type"] == "email"
    assert [item["name"] for item in sf.describe()["sobjects"]] == ["Account", "Contact", "Opportunity"]


# --- upsert by external id ----------------------------------------------------------------------------------


def test_upsert_creates_then_updates(sf: Salesforce) -> None:
    created = sf.Account.upsert("Concord_Id__c/ext-42", {"Name": "Upserted"}, raw_response=True)
    assert created.status_code == 201
    body = created.json()
    assert body["created"] is True and body["success"] is True and body["errors"] == []
    updated = sf.Account.upsert("Concord_Id__c/ext-42", {"Name": "Renamed"}, raw_response=True)
    assert updated.status_code == 200
    assert updated.json() == {"id": body["id"], "success": True, "errors": [], "created": False}
    record = sf.Account.get(body["id"])
    assert (record["Name"], record["Concord_Id__c"]) == ("Renamed", "ext-42")


def test_upsert_update_before_api_46_answers_204(twin: RunningTwin, sf: Salesforce) -> None:
    sf.Account.upsert("Concord_Id__c/old-api", {"Name": "v1"})
    assert connect(twin, version="45.0").Account.upsert("Concord_Id__c/old-api", {"Name": "v2"}) == 204


def test_upsert_on_duplicated_external_id_answers_300(twin: RunningTwin, sf: Salesforce) -> None:
    ids = [twin.store.inject("Account", {"Name": f"Copy {n}", "Concord_Id__c": "twice"}) for n in (1, 2)]
    with pytest.raises(SalesforceMoreThanOneRecord) as exc:
        sf.Account.upsert("Concord_Id__c/twice", {"Name": "Which?"})
    assert exc.value.content == [f"{API}/sobjects/Account/{record_id}" for record_id in ids]


def test_upsert_errors(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.upsert("Website/example.com", {"Name": "x"})
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.upsert("Concord_Id__c/no-name", {"Industry": "Retail"})
    assert error_of(exc)["errorCode"] == "REQUIRED_FIELD_MISSING"


# --- SOQL -----------------------------------------------------------------------------------------------------


def _soql_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_incremental_sync_by_system_modstamp(twin: RunningTwin, clock: FakeClock, sf: Salesforce) -> None:
    old = sf.Account.create({"Name": "Old", "Concord_Id__c": "old"})["id"]
    clock.advance(10)
    watermark = clock()
    clock.advance(10)
    fresh = sf.Account.create({"Name": "Fresh"})["id"]
    clock.advance(10)
    sf.Account.update(old, {"Phone": "555-0100"})
    soql = (f"SELECT Id, Name, SystemModstamp FROM Account WHERE SystemModstamp > {_soql_time(watermark)} "
            "ORDER BY SystemModstamp ASC LIMIT 100")
    result = sf.query(soql)
    assert (result["totalSize"], result["done"]) == (2, True)
    assert [r["Id"] for r in result["records"]] == [fresh, old]
    assert list(result["records"][0]) == ["attributes", "Id", "Name", "SystemModstamp"]
    newest = result["records"][-1]["SystemModstamp"]
    assert newest == sf.Account.get(old)["SystemModstamp"]


def test_lookups_by_external_id_ids_and_patterns(sf: Salesforce) -> None:
    ids = [sf.Account.create({"Name": f"Firm {n}", "Concord_Id__c": f"c-{n}"})["id"] for n in range(4)]
    assert sf.query("SELECT Id FROM Account WHERE Concord_Id__c = 'c-2'")["records"][0]["Id"] == ids[2]
    quoted = f"SELECT Id FROM Account WHERE Id IN ('{ids[0]}', '{ids[3][:15]}') ORDER BY Name DESC"
    assert [r["Id"] for r in sf.query(quoted)["records"]] == [ids[3], ids[0]]
    like = sf.query("SELECT Name FROM Account WHERE Name LIKE 'firm _' AND (NOT Concord_Id__c IN ('c-1'))")
    assert sorted(r["Name"] for r in like["records"]) == ["Firm 0", "Firm 2", "Firm 3"]
    counted = sf.query("SELECT COUNT() FROM Account WHERE Concord_Id__c != null")
    assert (counted["totalSize"], counted["records"]) == (4, [])
    page = sf.query("SELECT Name FROM Account ORDER BY Name LIMIT 2 OFFSET 1")
    assert [r["Name"] for r in page["records"]] == ["Firm 1", "Firm 2"]


def test_parent_relationship_fields(sf: Salesforce) -> None:
    account_id = sf.Account.create({"Name": "Umbrella", "Concord_Id__c": "umb"})["id"]
    sf.Contact.create({"LastName": "Linked", "AccountId": account_id})
    sf.Contact.create({"LastName": "Alone"})
    result = sf.query("SELECT LastName, Account.Name, Account.Concord_Id__c FROM Contact ORDER BY LastName")
    alone, linked = result["records"]
    assert alone["Account"] is None
    assert linked["Account"] == {"attributes": {"type": "Account", "url": f"{API}/sobjects/Account/{account_id}"},
                                 "Name": "Umbrella", "Concord_Id__c": "umb"}
    filtered = sf.query("SELECT Id FROM Contact WHERE Account.Concord_Id__c = 'umb'")
    assert filtered["totalSize"] == 1


def test_paging_with_next_records_url(twin: RunningTwin, sf: Salesforce) -> None:
    ids = [twin.store.inject("Account", {"Name": f"Row {n:02d}"}) for n in range(12)]
    first = sf.query("SELECT Id, Name FROM Account ORDER BY Name")
    assert (first["totalSize"], first["done"], len(first["records"])) == (12, False, 5)
    assert re.fullmatch(rf"{API}/query/01g[A-Za-z0-9]{{15}}-5", first["nextRecordsUrl"])
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert second["nextRecordsUrl"].endswith("-10") and len(second["records"]) == 5
    everything = sf.query_all("SELECT Id, Name FROM Account ORDER BY Name")
    assert [r["Id"] for r in everything["records"]] == ids and everything["totalSize"] == 12


def test_batch_size_header_is_clamped_to_200(twin: RunningTwin, http: httpx.Client) -> None:
    for n in range(250):
        twin.store.inject("Contact", {"LastName": f"Bulk {n}"})
    response = http.get("/query", params={"q": "SELECT Id FROM Contact"},
                        headers={"Sforce-Query-Options": "batchSize=100"})
    body = response.json()
    assert (len(body["records"]), body["done"], body["totalSize"]) == (200, False, 250)


def test_query_cursor_expires_when_idle(twin: RunningTwin, clock: FakeClock, sf: Salesforce) -> None:
    for n in range(6):
        twin.store.inject("Account", {"Name": f"Paged {n}"})
    first = sf.query("SELECT Id FROM Account")
    clock.advance(16 * 60)
    sf.session_id = twin.session_id()  # the clock also ended the old session
    sf._generate_headers()
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert error_of(exc) == {"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}


def test_query_all_includes_deleted_rows_and_delete_cascades(sf: Salesforce) -> None:
    account_id = sf.Account.create({"Name": "Doomed"})["id"]
    contact_id = sf.Contact.create({"LastName": "Dependent", "AccountId": account_id})["id"]
    sf.Account.delete(account_id)
    assert sf.query("SELECT Id FROM Contact")["totalSize"] == 0
    rows = sf.query_all("SELECT Id, IsDeleted FROM Contact", include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(contact_id, True)]
    deleted = sf.query_all("SELECT Id FROM Account WHERE IsDeleted = true", include_deleted=True)
    assert deleted["totalSize"] == 1


@pytest.mark.parametrize(("soql", "code", "detail"), [
    ("SELECT Id FRM Account", "MALFORMED_QUERY", "unexpected token: 'FRM'"),
    ("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "MALFORMED_QUERY",
     "unexpected token: 'OR'"),
    ("SELECT Colour__c FROM Account", "INVALID_FIELD", "No such column 'Colour__c' on entity 'Account'."),
    ("SELECT Id FROM Widget__c", "INVALID_TYPE", "sObject type 'Widget__c' is not supported."),
    ("SELECT Id FROM Account WHERE SystemModstamp > '2024-01-01T00:00:00Z'", "INVALID_FIELD",
     "value of filter criterion for field 'SystemModstamp' must be of type dateTime and should not be "
     "enclosed in quotes"),
    ("SELECT Id FROM Account WHERE Name = 5", "INVALID_FIELD",
     "value of filter criterion for field 'Name' must be of type string and should be enclosed in quotes"),
    ("SELECT Id FROM Account WHERE Id = 'xyz'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: xyz"),
])
def test_bad_soql_is_rejected_with_salesforce_errors(sf: Salesforce, soql: str, code: str, detail: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query(soql)
    error = error_of(exc)
    assert error["errorCode"] == code and detail in error["message"]
    assert re.search(r"\nERROR at Row:1:Column:\d+\n", error["message"])


def test_query_without_q_is_malformed(http: httpx.Client) -> None:
    response = http.get("/query")
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "MALFORMED_QUERY"


# --- sObject Collections ----------------------------------------------------------------------------------


def _records(kind: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"attributes": {"type": kind}, **row} for row in rows]


def test_collection_create_reports_each_record(twin: RunningTwin, sf: Salesforce) -> None:
    body = {"allOrNone": False, "records": _records("Account", [{"Name": "Good"}, {"Industry": "Bad"}])
            + _records("Contact", [{"LastName": "Mixed types"}])}
    good, bad, contact = sf.restful("composite/sobjects", method="POST", json=body)
    assert good["success"] is True and good["id"].startswith("001") and good["errors"] == []
    assert bad == {"success": False, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING",
                                                 "message": "Required fields are missing: [Name]",
                                                 "fields": ["Name"]}]}
    assert contact["id"].startswith("003")
    assert twin.store.counts()["Account"]["live"] == 1


def test_collection_all_or_none_rolls_everything_back(twin: RunningTwin, sf: Salesforce) -> None:
    body = {"allOrNone": True, "records": _records("Account", [{"Name": "Would be fine"}, {"Name": ""}])}
    first, second = sf.restful("composite/sobjects", method="POST", json=body)
    assert first == {"success": False, "errors": [{
        "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "message": "Record rolled back because not all records were valid and the request was using "
                   "AllOrNone header", "fields": []}]}
    assert second["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert twin.store.counts()["Account"] == {"live": 0, "deleted": 0}


def test_collections_over_200_records_are_refused(sf: Salesforce, http: httpx.Client) -> None:
    body = {"records": _records("Account", [{"Name": f"N{n}"} for n in range(201)])}
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite/sobjects", method="POST", json=body)
    assert error_of(exc) == {"message": "record limit reached. cannot submit more than 200 records into this "
                             "call", "errorCode": "EXCEEDED_ID_LIMIT"}
    upsert = http.patch("/composite/sobjects/Account/Concord_Id__c", json=body)
    assert upsert.status_code == 400 and upsert.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_collection_request_that_cannot_be_read_fails_whole(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite/sobjects", method="POST", json={"records": [{"Name": "no type"}]})
    assert error_of(exc)["errorCode"] == "INVALID_TYPE"
    body = {"records": _records("Account", [{"Name": "ok"}, {"Name": "x", "Shoe_Size__c": 9}])}
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite/sobjects", method="POST", json=body)
    assert error_of(exc)["errorCode"] == "INVALID_FIELD"


def test_collection_update_upsert_retrieve_delete(twin: RunningTwin, sf: Salesforce) -> None:
    existing = sf.Account.create({"Name": "Existing", "Concord_Id__c": "u-1"})["id"]
    upsert_body = {"allOrNone": False, "records": _records("Account", [
        {"Concord_Id__c": "u-1", "Name": "Existing v2"}, {"Concord_Id__c": "u-2", "Name": "New"},
        {"Name": "No key"}])}
    updated, created, missing = sf.restful("composite/sobjects/Account/Concord_Id__c", method="PATCH",
                                           json=upsert_body)
    assert updated == {"id": existing, "success": True, "errors": [], "created": False}
    assert created["created"] is True and created["success"] is True
    assert missing["errors"][0]["statusCode"] == "MISSING_ARGUMENT"

    update_body = {"records": _records("Account", [{"id": created["id"], "Industry": "Energy"},
                                                   {"id": existing.replace("001", "003", 1), "Name": "x"},
                                                   {"Name": "no id"}])}
    ok, wrong_type, no_id = sf.restful("composite/sobjects", method="PATCH", json=update_body)
    assert ok == {"id": created["id"], "success": True, "errors": []}
    assert wrong_type["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert no_id["errors"][0] == {"statusCode": "MISSING_ARGUMENT", "message": "Id not specified in an update "
                                  "call", "fields": []}

    fetched = sf.restful("composite/sobjects/Account", params={"ids": f"{created['id']},{existing}",
                                                               "fields": "Name,Industry"})
    assert [(r["Name"], r["Industry"]) for r in fetched] == [("New", "Energy"), ("Existing v2", None)]

    deleted = sf.restful("composite/sobjects", method="DELETE",
                         params={"ids": f"{existing},{existing},garbage", "allOrNone": "false"})
    assert deleted[0] == {"id": existing, "success": True, "errors": []}
    assert deleted[1]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert deleted[2]["errors"][0] == {"statusCode": "MALFORMED_ID", "message": "malformed id garbage",
                                       "fields": []}


# --- limits, admin routes, drift -------------------------------------------------------------------------


def test_usage_header_and_limits_resource(twin: RunningTwin, sf: Salesforce, http: httpx.Client) -> None:
    sf.query("SELECT Id FROM Account")
    assert sf.api_usage["api-usage"].used == 1 and sf.api_usage["api-usage"].total == 15000
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 15000, "Remaining": 15000 - 2}
    assert http.get("/limits").headers["sforce-limit-info"] == "api-usage=3/15000"


def test_daily_quota_exhaustion_and_reset(clock: FakeClock) -> None:
    settings = SalesforceTwinSettings(clock=clock, daily_api_quota=3)
    with running_twin(settings) as small:
        sf = connect(small)
        for _ in range(3):
            sf.query("SELECT Id FROM Account")
        with pytest.raises(SalesforceRefusedRequest) as exc:
            sf.query("SELECT Id FROM Account")
        assert exc.value.content == [{"message": "TotalRequests Limit exceeded.",
                                      "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        refused = httpx.get(f"{small.base_url}{API}/limits", headers={"Authorization": f"Bearer {sf.session_id}"})
        assert refused.status_code == 403 and refused.headers["sforce-limit-info"] == "api-usage=3/3"
        clock.advance(24 * 3600)
        sf.session_id = small.session_id()
        sf._generate_headers()
        assert sf.query("SELECT Id FROM Account")["totalSize"] == 0


def test_admin_routes(twin: RunningTwin, sf: Salesforce) -> None:
    sf.Account.create({"Name": "To be wiped"})
    counts = httpx.get(f"{twin.base_url}/__twin__/counts").json()
    assert counts["Account"] == {"live": 1, "deleted": 0} and counts["api_usage"]["used"] == 1
    set_usage = httpx.put(f"{twin.base_url}/__twin__/api-usage", json={"used": 14999})
    assert set_usage.json() == {"used": 14999, "max": 15000}
    assert httpx.post(f"{twin.base_url}/__twin__/reset").status_code == 200
    assert twin.store.counts()["Account"] == {"live": 0, "deleted": 0}
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0  # sessions survive a reset
    assert sf.api_usage["api-usage"].used == 1


def test_drift_without_touch_is_invisible_to_incremental_sync(twin: RunningTwin, clock: FakeClock,
                                                                 sf: Salesforce) -> None:
    record_id = sf.Account.create({"Name": "Stable", "Phone": "111"})["id"]
    clock.advance(5)
    since = _soql_time(clock())
    clock.advance(5)
    twin.store.tamper("Account", record_id, {"phone": "999"}, touch=False)
    soql = f"SELECT Id, Phone FROM Account WHERE SystemModstamp > {since}"
    assert sf.query(soql)["totalSize"] == 0
    assert sf.Account.get(record_id)["Phone"] == "999"
    twin.store.tamper("Account", record_id, {"Phone": "555"})
    assert [r["Phone"] for r in sf.query(soql)["records"]] == ["555"]


def test_versions_resources_and_revocation(twin: RunningTwin, http: httpx.Client) -> None:
    versions = httpx.get(f"{twin.base_url}/services/data/").json()  # no session needed, as in Salesforce
    assert versions[-1]["url"] == API
    assert http.get("").json()["query"] == f"{API}/query"
    assert http.get("/sobjects/Account/").json()["objectDescribe"]["keyPrefix"] == "001"
    token = http.headers["Authorization"].split()[1]
    assert httpx.post(f"{twin.base_url}/services/oauth2/revoke", data={"token": token}).status_code == 200
    assert http.get("/limits").status_code == 401


def test_create_by_id_field_and_short_ids(twin: RunningTwin, http: httpx.Client) -> None:
    created = http.post("/sobjects/Account/Id", json={"Name": "Via Id"})
    assert created.status_code == 201 and created.json()["created"] is True
    short = created.json()["id"][:15]
    assert http.get(f"/sobjects/Account/{short}").json()["Name"] == "Via Id"
    missing = http.get("/sobjects/Account/not-an-id")
    assert missing.status_code == 404 and missing.json()[0]["message"].startswith("Provided external ID field")
    contact = twin.store.inject("Contact", {"FirstName": "Grace", "LastName": "Hopper"})
    assert twin.store.snapshot("Contact")[0]["Name"] == "Grace Hopper" and contact.startswith("003")


def test_restricted_custom_picklists_when_enabled(clock: FakeClock) -> None:
    with running_twin(SalesforceTwinSettings(clock=clock, restricted_custom_picklists=True)) as strict:
        sf = connect(strict)
        assert sf.Account.create({"Name": "Fine", "Credit_Status__c": "Hold"})["success"] is True
        with pytest.raises(SalesforceMalformedRequest) as exc:
            sf.Account.create({"Name": "Bad", "Credit_Status__c": "Frozen"})
        assert error_of(exc) == {"message": "Credit Status: bad value for restricted picklist field: Frozen",
                                 "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                 "fields": ["Credit_Status__c"]}
        fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
        assert fields["Credit_Status__c"]["restrictedPicklist"] is True
        assert [v["value"] for v in fields["Credit_Status__c"]["picklistValues"]] == ["OK", "Review", "Hold"]
