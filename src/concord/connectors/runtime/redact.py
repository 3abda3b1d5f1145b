"""Secret redaction for anything a connector might log: URLs, headers, bodies and free text.

Redaction errs on the side of hiding: a field whose *name* looks sensitive is masked whatever its value,
and well-known token shapes (Stripe keys, HubSpot private-app tokens, Salesforce session ids, JWTs, bearer
credentials) are masked wherever they appear in text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import overload
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

_SENSITIVE_FRAGMENTS = (
    "authorization",
    "api_key",
    "apikey",
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "cookie",
    "session",
    "signature",
    "private_key",
    "credential",
    "assertion",
)
_SENSITIVE_EXACT = frozenset({"key", "sid", "pwd", "auth", "pin", "otp", "code_verifier"})

_NAME = r"[A-Za-z0-9_.-]*(?:authorization|api[_-]?key|token|secret|passw(?:or)?d|passphrase|cookie|session|signature|private[_-]?key|credential|assertion)[A-Za-z0-9_.-]*"  # noqa: E501


@lru_cache(maxsize=1)
def _text_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    # Order matters: credentials after an auth scheme first, then user-info, then name=value, then shapes.
    return (
        (re.compile(r"(?i)\b(bearer|basic|digest|token|oauth)\s+[A-Za-z0-9._~+/=-]{4,}"), rf"\1 {MASK}"),
        (re.compile(r"(//[^/\s:@]+):[^@\s/]+@"), rf"\1:{MASK}@"),
        (
            re.compile(rf"(?i)([\"']?\b{_NAME}[\"']?\s*[:=]\s*)([\"']?)[^\"'&\s,;}}]+"),
            rf"\1\2{MASK}",
        ),
        (re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}"), MASK),
        (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"), MASK),
        (re.compile(r"\bpat-[a-z]{2,3}\d?-[0-9a-fA-F-]{16,}"), MASK),
        (re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]+"), MASK),
        (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
    )


def is_sensitive_name(name: str) -> bool:
    """True for a header, field or query-parameter name that holds a secret."""
    normal = name.strip().lower().replace("-", "_")
    return normal in _SENSITIVE_EXACT or any(fragment in normal for fragment in _SENSITIVE_FRAGMENTS)


def redact_text(text: str) -> str:
    for pattern, replacement in _text_patterns():
        text = pattern.sub(replacement, text)
    return text


def redact_url(url: str) -> str:
    """Mask the password in user-info and every sensitive query parameter."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{MASK}@{host}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = urlencode([(k, MASK if is_sensitive_name(k) else redact_text(v)) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, redact_text(parts.path), query, parts.fragment))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: MASK if is_sensitive_name(name) else redact_text(value) for name, value in headers.items()}


def redact_body(content: bytes | str, content_type: str | None = None) -> str:
    """A request or response body made safe to log: JSON and form bodies by field name, else as text."""
    text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content
    kind = (content_type or "").lower()
    if "json" in kind or text.lstrip()[:1] in ("{", "["):
        try:
            return json.dumps(redact(json.loads(text)), ensure_ascii=False)
        except ValueError:
            return redact_text(text)
    if "x-www-form-urlencoded" in kind:
        pairs = parse_qsl(text, keep_blank_values=True)
        return urlencode([(k, MASK if is_sensitive_name(k) else redact_text(v)) for k, v in pairs], safe="*")
    return redact_text(text)


@overload
def redact(value: str) -> str: ...


@overload
def redact(value: Mapping[str, object]) -> dict[str, object]: ...


@overload
def redact(value: list[object]) -> list[object]: ...


@overload
def redact(value: object) -> object: ...


def redact(value: object) -> object:
    """Redact any JSON-like value: mappings by key name (recursively), strings by token shape."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            str(key): MASK if is_sensitive_name(str(key)) and item not in (None, "") else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value
