"""The twin org's metadata: Account, Contact and Opportunity with their standard and Concord custom fields.

Field names resolve case-insensitively, as they do in Salesforce REST bodies and SOQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import TypeAlias

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
Value: TypeAlias = str | int | float | bool | date | datetime | None

TEXT_TYPES = frozenset({"id", "string", "textarea", "picklist", "phone", "url", "email", "reference"})
NUMBER_TYPES = frozenset({"int", "double", "currency"})


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    label: str
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    custom: bool = False
    defaulted_on_create: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist: tuple[str, ...] = ()
    precision: int = 0
    scale: int = 0

    @property
    def required(self) -> bool:
        """Required on create: not nillable, writable, and no server-side default (Salesforce's rule)."""
        return not self.nillable and self.createable and not self.defaulted_on_create


@dataclass(frozen=True)
class ObjectDef:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    fields: tuple[FieldDef, ...] = field(repr=False)
    _by_lower: dict[str, FieldDef] = field(init=False, repr=False, compare=False)
    _by_relationship: dict[str, FieldDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_lower", {f.name.lower(): f for f in self.fields})
        relationships = {f.relationship_name.lower(): f for f in self.fields if f.relationship_name}
        object.__setattr__(self, "_by_relationship", relationships)

    def field(self, name: str) -> FieldDef | None:
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        return self._by_relationship.get(name.lower())


def _text(name: str, label: str, length: int) -> FieldDef:
    return FieldDef(name, "string", label, length)


def _custom(
    name: str,
    label: str,
    type_: str = "string",
    length: int = 255,
    *,
    picklist: tuple[str, ...] = (),
    unique: bool = False,
    external_id: bool = False,
) -> FieldDef:
    return FieldDef(name, type_, label, length, custom=True, unique=unique, external_id=external_id,
                    picklist=picklist)


def _picklist(name: str, label: str, values: tuple[str, ...]) -> FieldDef:
    return FieldDef(name, "picklist", label, 255, picklist=values)


def _reference(name: str, label: str, target: str, relationship: str, *, nillable: bool = True) -> FieldDef:
    return FieldDef(name, "reference", label, 18, nillable=nillable, reference_to=(target,),
                    relationship_name=relationship, defaulted_on_create=not nillable)


def _audit(name: str, type_: str, label: str, target: str | None = None) -> FieldDef:
    """A platform-maintained field: always set, never writable by a client."""
    length = 18 if type_ in ("id", "reference") else 0
    relationship = name.removesuffix("Id") if target else None
    return FieldDef(name, type_, label, length, nillable=False, createable=False, updateable=False,
                    defaulted_on_create=True, reference_to=(target,) if target else (),
                    relationship_name=relationship)


def _system_fields() -> tuple[FieldDef, ...]:
    return (
        _audit("Id", "id", "Record ID"),
        _audit("IsDeleted", "boolean", "Deleted"),
        _reference("OwnerId", "Owner ID", "User", "Owner", nillable=False),
        _audit("CreatedDate", "datetime", "Created Date"),
        _audit("CreatedById", "reference", "Created By ID", "User"),
        _audit("LastModifiedDate", "datetime", "Last Modified Date"),
        _audit("LastModifiedById", "reference", "Last Modified By ID", "User"),
        _audit("SystemModstamp", "datetime", "System Modstamp"),
        _custom("Concord_Id__c", "Concord Id", unique=True, external_id=True),
    )


def _address(kind: str) -> tuple[FieldDef, ...]:
    return (
        FieldDef(f"{kind}Street", "textarea", f"{kind} Street", 255),
        _text(f"{kind}City", f"{kind} City", 40),
        _text(f"{kind}State", f"{kind} State/Province", 80),
        _text(f"{kind}PostalCode", f"{kind} Zip/Postal Code", 20),
        _text(f"{kind}Country", f"{kind} Country", 80),
    )


ACCOUNT_TYPES = ("Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller",
                 "Installation Partner", "Technology Partner", "Other")
INDUSTRIES = ("Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
              "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering",
              "Entertainment", "Environmental", "Finance", "Food & Beverage", "Government", "Healthcare",
              "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media", "Not For Profit",
              "Recreation", "Retail", "Shipping", "Technology", "Telecommunications", "Transportation",
              "Utilities", "Other")
CREDIT_STATUSES = ("OK", "Review", "Hold")
PAYMENT_TERMS = ("Due on Receipt", "Net 15", "Net 30", "Net 45", "Net 60", "Net 90")
BILLING_STATUSES = ("Paid", "Open", "Overdue")
CONTRACT_STATUSES = ("Draft", "Activated", "Terminated")
LIFECYCLE_STAGES = ("Prospect", "Qualified", "Onboarding", "Active", "Credit Hold", "Suspended", "Closed")
STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
          "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost")


def _account() -> ObjectDef:
    fields = (
        *_system_fields(),
        FieldDef("Name", "string", "Account Name", 255, nillable=False),
        _text("AccountNumber", "Account Number", 40),
        _picklist("Type", "Account Type", ACCOUNT_TYPES),
        _picklist("Industry", "Industry", INDUSTRIES),
        FieldDef("Phone", "phone", "Account Phone", 40),
        FieldDef("Website", "url", "Website", 255),
        *_address("Billing"),
        *_address("Shipping"),
        FieldDef("AnnualRevenue", "currency", "Annual Revenue", precision=18, scale=0),
        FieldDef("NumberOfEmployees", "int", "Employees", precision=8),
        _reference("ParentId", "Parent Account ID", "Account", "Parent"),
        FieldDef("Description", "textarea", "Account Description", 32000),
        _custom("ERP_Customer_Number__c", "ERP Customer Number", length=40),
        _custom("Credit_Status__c", "Credit Status", "picklist", picklist=CREDIT_STATUSES),
        _custom("Payment_Terms__c", "Payment Terms", "picklist", picklist=PAYMENT_TERMS),
        _custom("Lifecycle_Stage__c", "Lifecycle Stage", "picklist", picklist=LIFECYCLE_STAGES),
        # Billing status for sales (written by Concord's sync-billing-status process).
        FieldDef("Open_Receivables__c", "currency", "Open Receivables", precision=18, scale=2, custom=True),
        FieldDef("Overdue_Receivables__c", "currency", "Overdue Receivables", precision=18, scale=2, custom=True),
        FieldDef("Open_Invoices__c", "int", "Open Invoices", precision=8, custom=True),
        _custom("Billing_Status__c", "Billing Status", "picklist", picklist=BILLING_STATUSES),
        # The contract and order Concord's activate-contract process reports back to sales.
        _custom("Contract_Status__c", "Contract Status", "picklist", picklist=CONTRACT_STATUSES),
        _custom("Order_Number__c", "ERP Order Number", length=40),
    )
    return ObjectDef("Account", "Account", "Accounts", "001", fields)


def _contact() -> ObjectDef:
    fields = (
        *_system_fields(),
        _reference("AccountId", "Account ID", "Account", "Account"),
        _text("FirstName", "First Name", 40),
        FieldDef("LastName", "string", "Last Name", 80, nillable=False),
        # The compound full name is computed by the platform; clients can read and query it, never write it.
        FieldDef("Name", "string", "Full Name", 121, nillable=False, createable=False, updateable=False,
                 defaulted_on_create=True),
        FieldDef("Email", "email", "Email", 80),
        FieldDef("Phone", "phone", "Business Phone", 40),
        _text("Title", "Title", 128),
        FieldDef("Description", "textarea", "Contact Description", 32000),
    )
    return ObjectDef("Contact", "Contact", "Contacts", "003", fields)


def _opportunity() -> ObjectDef:
    fields = (
        *_system_fields(),
        _reference("AccountId", "Account ID", "Account", "Account"),
        FieldDef("Name", "string", "Name", 120, nillable=False),
        FieldDef("StageName", "picklist", "Stage", 255, nillable=False, picklist=STAGES),
        FieldDef("CloseDate", "date", "Close Date", nillable=False),
        FieldDef("Amount", "currency", "Amount", precision=18, scale=2),
        FieldDef("Description", "textarea", "Description", 32000),
        # The order and contract status Concord's activate-contract process reports back on the deal.
        _custom("Order_Number__c", "ERP Order Number", length=40),
        _custom("Contract_Status__c", "Contract Status", "picklist", picklist=CONTRACT_STATUSES),
    )
    return ObjectDef("Opportunity", "Opportunity", "Opportunities", "006", fields)


@cache
def standard_objects() -> dict[str, ObjectDef]:
    """The org's sObjects keyed by lower-cased API name."""
    return {obj.name.lower(): obj for obj in (_account(), _contact(), _opportunity())}


def object_def(name: str) -> ObjectDef | None:
    return standard_objects().get(name.lower())


def object_for_prefix(prefix: str) -> ObjectDef | None:
    return next((obj for obj in standard_objects().values() if obj.key_prefix == prefix), None)
