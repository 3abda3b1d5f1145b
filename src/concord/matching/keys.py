"""Exact business keys that identify a customer across systems (pure).

Two records sharing one of these keys are the same customer with near certainty, so ingest links to the
existing golden record instead of creating a second one.
"""

from __future__ import annotations

import re

from concord.canonical.fields import JsonValue

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


def _domain(value: str) -> str:
    host = value.strip().lower().removeprefix("https://").removeprefix("http://").split("/")[0]
    return host.removeprefix("www.")


def exact_keys(entity: str, values: dict[str, JsonValue]) -> list[str]:
    keys: list[str] = []
    if entity == "account":
        if values.get("erp_customer_number"):
            keys.append(f"erp:{values['erp_customer_number']}")
        if values.get("domain"):
            keys.append(f"domain:{_domain(str(values['domain']))}")
        for tax_id in values.get("tax_profile.tax_ids") or []:
            keys.append(f"tax:{tax_id['type']}:{_NON_ALNUM.sub('', str(tax_id['value'])).upper()}")
    elif entity == "contact" and values.get("email"):
        keys.append(f"email:{str(values['email']).strip().lower()}")
    return keys
