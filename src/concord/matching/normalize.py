"""Normalisation of identity fields before blocking and comparison (pure, no I/O).

Every function maps a raw value to one canonical spelling, or "" when nothing usable is left, so that
"ACME, Inc." and "Acme Incorporated" or "+49 (0)30 1234-567" and "0049 30 1234567" compare equal.
"""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^0-9a-z]+")
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")
_DOTTED = re.compile(r"\b(?:[a-z]\.){2,}")  # "s.a." or "u.s.a." → one token before punctuation goes

# Legal-form words; stripped only at the end of a name, since "Company Store" or "AG Barr" keep their meaning.
LEGAL_FORMS = frozenset({
    "inc", "incorporated", "llc", "lllp", "llp", "lp", "ltd", "limited", "plc", "corp", "corporation", "co",
    "company", "gmbh", "mbh", "ag", "kg", "kgaa", "ug", "ohg", "ev", "se", "sa", "sas", "sasu", "sarl", "srl",
    "spa", "sl", "slu", "sau", "bv", "nv", "vof", "oy", "oyj", "ab", "as", "asa", "aps", "kk", "pty", "pte",
    "bhd", "sdn", "pvt", "ltda", "cv", "sab", "de", "and", "the", "holding", "holdings",
})
_ABBREVIATIONS = {
    "intl": "international", "int": "international", "mfg": "manufacturing", "svcs": "services",
    "svc": "services", "grp": "group", "bros": "brothers", "assoc": "associates", "assn": "association",
    "natl": "national", "tech": "technologies", "technology": "technologies", "sys": "systems",
    "mgmt": "management", "dev": "development", "ind": "industries", "inds": "industries", "labs": "laboratories",
    "lab": "laboratories", "solns": "solutions", "sols": "solutions", "univ": "university", "ctr": "center",
    "centre": "center", "&": "and",
}
_STREET_WORDS = {
    "street": "st", "str": "st", "strasse": "st", "road": "rd", "avenue": "ave", "av": "ave", "boulevard": "blvd",
    "drive": "dr", "lane": "ln", "place": "pl", "square": "sq", "court": "ct", "highway": "hwy", "suite": "ste",
    "floor": "fl", "north": "n", "south": "s", "east": "e", "west": "w", "circuit": "cct", "crescent": "cres",
}
FREE_MAIL = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "icloud.com", "me.com",
    "aol.com", "gmx.de", "gmx.net", "web.de", "proton.me", "protonmail.com", "mail.com", "yandex.ru",
})
CALLING_CODES = {
    "US": "1", "CA": "1", "GB": "44", "DE": "49", "FR": "33", "ES": "34", "IT": "39", "NL": "31", "BE": "32",
    "CH": "41", "AT": "43", "SE": "46", "NO": "47", "DK": "45", "FI": "358", "IE": "353", "PT": "351",
    "PL": "48", "AU": "61", "NZ": "64", "JP": "81", "IN": "91", "BR": "55", "MX": "52", "SG": "65",
}
EU_VAT_PREFIX = {"GR": "EL"}  # Greece's VAT numbers carry EL, not its ISO code


def fold(value: str | None) -> str:
    """Lower case, accents removed (é → e, ß → ss), whitespace collapsed."""
    if not value:
        return ""
    text = unicodedata.normalize("NFKD", value.replace("ß", "ss").replace("ø", "o").replace("æ", "ae"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.lower().split())


def words(value: str | None) -> list[str]:
    text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), fold(value).replace("&", " and "))
    return [w for w in _NON_WORD.split(text) if w]


def company_name(value: str | None) -> str:
    """Name without legal form, punctuation, accents or abbreviations: "ACME Intl., S.A." → "acme international"."""
    tokens = [_ABBREVIATIONS.get(w, w) for w in words(value)]
    if tokens and tokens[0] == "the":
        tokens = tokens[1:]
    while len(tokens) > 1 and tokens[-1] in LEGAL_FORMS:
        tokens.pop()
    return " ".join(tokens)


def person_name(value: str | None) -> str:
    return "".join(words(value))


def email(value: str | None) -> str:
    text = fold(value)
    return text if "@" in text else ""


def domain(value: str | None) -> str:
    """Host of a URL, e-mail address or bare domain, without scheme, `www.`, port or path."""
    text = fold(value)
    if not text:
        return ""
    if "@" in text and "//" not in text:
        text = text.rsplit("@", 1)[1]
    text = text.split("//", 1)[-1].split("/", 1)[0].split("?", 1)[0].split(":", 1)[0].strip(".")
    return text.removeprefix("www.") if "." in text else ""


def company_domain(value: str | None) -> str:
    """The domain as evidence of a company: free-mail providers say nothing about who the customer is."""
    host = domain(value)
    return "" if host in FREE_MAIL else host


def phone(value: str | None, country: str | None = None) -> str:
    """E.164 (+4930123456) when the country is known or the number is international, else its digits."""
    if not value:
        return ""
    raw = value.strip()
    digits = re.sub(r"\D", "", raw.replace("(0)", ""))
    if raw.startswith("+"):
        return f"+{digits}"
    if digits.startswith("00"):
        return f"+{digits[2:]}"
    code = CALLING_CODES.get((country or "").upper())
    if code is None or not digits:
        return digits
    if code == "1":
        return f"+1{digits[1:]}" if len(digits) == 11 and digits.startswith("1") else f"+1{digits}"
    return f"+{code}{digits.lstrip('0')}"  # the national trunk prefix 0 is dropped in international form


def tax_id(kind: str | None, value: str | None, country: str | None = None) -> str:
    """One spelling per tax id: EU VAT with its country prefix, Swiss UID as CHE+9 digits, EIN as 9 digits."""
    text = _NON_ALNUM.sub("", (value or "")).upper()
    if not text:
        return ""
    kind = (kind or "").lower()
    if kind == "ch_vat" or text.startswith("CHE"):
        digits = re.sub(r"\D", "", text)[:9]
        return f"CHE{digits}"
    if kind in {"us_ein", "au_abn", "ca_bn"}:
        return re.sub(r"\D", "", text)[:11 if kind == "au_abn" else 9]
    if kind in {"eu_vat", "gb_vat"} and text[:2].isdigit():
        prefix = "GB" if kind == "gb_vat" else EU_VAT_PREFIX.get((country or "").upper(), (country or "").upper())
        return f"{prefix}{text}"
    return text


def postcode(value: str | None, country: str | None = None) -> str:
    text = _NON_ALNUM.sub("", value or "").upper()
    if (country or "").upper() == "US":
        return text[:5]  # ZIP+4 and ZIP name the same place for matching
    return text


def street(value: str | None) -> str:
    return " ".join(_STREET_WORDS.get(w, w) for w in words(value))
