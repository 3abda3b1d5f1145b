"""Accounting setup of a fresh Tryton database, done with proteus in-process and Tryton's own test helpers.

Run as `python -m concord.sandbox.tryton.accounting CONF DB_NAME META_OUT [--second-company CUR]`. It runs in
a child process on purpose: proteus' trytond backend starts a global Pool and rewrites trytond's global
config, which must not leak into the process that runs the tests or the hub.

Fields the desktop client fills in are not filled over the API, so the ids the tests and the demo need
(accounts, revenue journal, payment term, per company) are written to META_OUT as JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from datetime import date
from pathlib import Path
from typing import Any

# Imported by name: proteus and trytond ship no type information (their records are dynamic proxies), and
# this way type-checking the package does not need the `erp` extra installed. This module only ever runs as
# the child process, so the imports happen there and nowhere else.
proteus = importlib.import_module("proteus")
proteus_config = importlib.import_module("proteus.config")
account_tools = importlib.import_module("trytond.modules.account.tests.tools")
invoice_tools = importlib.import_module("trytond.modules.account_invoice.tests.tools")
company_tools = importlib.import_module("trytond.modules.company.tests.tools")
currency_tools = importlib.import_module("trytond.modules.currency.tests.tools")
Model = proteus.Model


# Tryton ships no country data (the `trytond_import_countries` script needs pycountry and the network), so
# the template carries the few countries the demo and tests address parties in: (alpha-2, alpha-3, name).
COUNTRIES: tuple[tuple[str, str, str], ...] = (
    ("US", "USA", "United States"),
    ("CA", "CAN", "Canada"),
    ("GB", "GBR", "United Kingdom"),
    ("IE", "IRL", "Ireland"),
    ("FR", "FRA", "France"),
    ("DE", "DEU", "Germany"),
    ("BE", "BEL", "Belgium"),
    ("NL", "NLD", "Netherlands"),
    ("LU", "LUX", "Luxembourg"),
    ("ES", "ESP", "Spain"),
    ("PT", "PRT", "Portugal"),
    ("IT", "ITA", "Italy"),
    ("AT", "AUT", "Austria"),
    ("CH", "CHE", "Switzerland"),
    ("DK", "DNK", "Denmark"),
    ("SE", "SWE", "Sweden"),
    ("NO", "NOR", "Norway"),
    ("FI", "FIN", "Finland"),
    ("PL", "POL", "Poland"),
    ("AU", "AUS", "Australia"),
    ("JP", "JPN", "Japan"),
)


def _connect(conf: Path, db_name: str, login: str) -> Any:
    # TrytondConfig takes the URI from the environment and the name from DB_NAME; a path in the URI would be
    # overridden by `[database] path` with a warning.
    os.environ["TRYTOND_DATABASE_URI"] = "sqlite://"
    os.environ["DB_NAME"] = db_name
    return proteus_config.set_trytond(None, user=login, config_file=str(conf))


def _create_countries() -> None:
    country_model = Model.get("country.country")
    # proteus' save is a dual method: one call for the list is one create.
    country_model.save([country_model(code=code, code3=code3, name=name) for code, code3, name in COUNTRIES])


def _refresh_context(cfg: Any) -> None:
    user_model = Model.get("res.user")
    cfg._context = user_model.get_preferences(True, {})


def _switch_company(cfg: Any, company: Any) -> None:
    """Make `company` the admin's current one: company rules and defaults follow the user's preferences."""
    user = Model.get("res.user")(cfg.user)
    user.company = company
    user.employee = None
    user.save()
    _refresh_context(cfg)


def _add_employee(cfg: Any, company: Any, name: str) -> Any:
    employee = Model.get("company.employee")(party=Model.get("party.party")(name=name), company=company)
    employee.party.save()
    employee.save()
    user = Model.get("res.user")(cfg.user)
    user.employees.append(employee)
    user.employee = employee
    user.save()
    _refresh_context(cfg)
    return employee


def _setup_books(cfg: Any, company: Any, year: int) -> dict[str, int]:
    """Calendar fiscal years year-1..year+1 with periods and invoice sequences, the minimal chart, and the
    ids callers need. Three years let tests date invoices in the past or future all year long."""
    fiscalyears = {}
    for each in (year - 1, year, year + 1):
        fiscalyear = account_tools.create_fiscalyear(company, today=(date(each, 1, 1), date(each, 12, 31)))
        invoice_tools.set_fiscalyear_invoice_sequences(fiscalyear)
        fiscalyear.click("create_period")
        fiscalyears[each] = fiscalyear
    account_tools.create_chart(company)
    accounts = account_tools.get_accounts(company)
    journal, = Model.get("account.journal").find([("type", "=", "revenue")], limit=1)
    ids = {kind: accounts[kind].id for kind in ("receivable", "payable", "revenue", "expense")}
    ids.update(fiscalyear=fiscalyears[year].id, revenue_journal=journal.id)
    return ids


def _describe(company: Any, books: dict[str, int], employee: Any) -> dict[str, Any]:
    return {
        "id": company.id,
        "name": company.party.name,
        "party": company.party.id,
        "currency": company.currency.id,
        "currency_code": company.currency.code,
        "employee": employee.id,
        "accounts": books,
    }


def _second_company(cfg: Any, currency_code: str, year: int) -> dict[str, Any]:
    party = Model.get("party.party")(name="Concord Europe")
    party.save()
    company = Model.get("company.company")(party=party, currency=currency_tools.get_currency(currency_code))
    company.save()
    user = Model.get("res.user")(cfg.user)
    user.companies.append(company)
    user.save()
    _switch_company(cfg, company)
    employee = _add_employee(cfg, company, "Concord Europe Clerk")
    return _describe(company, _setup_books(cfg, company, year), employee)


def run(
    conf: Path, db_name: str, login: str, currency: str, second_currency: str | None, year: int
) -> dict[str, Any]:
    cfg = _connect(conf, db_name, login)
    _create_countries()
    main_party = Model.get("party.party")(name="Concord Demo Inc")
    main_party.save()
    company_tools.create_company(party=main_party, currency=currency_tools.get_currency(currency))
    company, = Model.get("company.company").find([("party", "=", main_party.id)])
    employee = _add_employee(cfg, company, "Concord Clerk")
    companies = [_describe(company, _setup_books(cfg, company, year), employee)]
    payment_term = invoice_tools.create_payment_term()
    payment_term.save()
    if second_currency:
        companies.append(_second_company(cfg, second_currency, year))
        user = Model.get("res.user")(cfg.user)
        user.company = company
        user.employee = Model.get("company.employee")(employee.id)
        # 'all' lets one session act for either company by passing {"company": id} in the call context.
        user.company_filter = "all"
        user.save()
    return {"companies": companies, "payment_term": payment_term.id, "admin_user": cfg.user}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("conf", type=Path)
    parser.add_argument("db_name")
    parser.add_argument("meta_out", type=Path)
    parser.add_argument("--currency", default="USD")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--year", type=int, default=date.today().year)
    parser.add_argument("--second-company", dest="second_currency", default=None)
    args = parser.parse_args(argv)
    meta = run(args.conf, args.db_name, args.login, args.currency, args.second_currency, args.year)
    args.meta_out.write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    main()
