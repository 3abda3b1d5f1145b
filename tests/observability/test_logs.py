"""Structured logs: JSON with correlation id, tenant, customer and step; PII masked by key and by pattern."""

from __future__ import annotations

import io
import logging

import orjson
import structlog

from concord.observability.logs import configure_structlog, json_formatter, log_context
from concord.observability.pii import find_pii, leaks_in, mask_event, mask_text
from tests.conftest import _PiiLeakCatcher


def capture(name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger, stream


def test_patterns_find_emails_phones_and_tax_ids() -> None:
    text = ("mail ap@globex.example or j.doe+x@mail.co.uk, call +49 30 1810111 or (555) 555-0100, "
            "VAT GB980780684, DE123456789, EIN 12-3456789, SSN 123-45-6789")
    assert len(find_pii(text)) == 8
    masked = mask_text(text)
    assert find_pii(masked) == []
    assert "globex" not in masked and "1810111" not in masked and "980780684" not in masked


def test_ordinary_ids_and_timestamps_survive_masking() -> None:
    text = "change 01JD5K2M7X9 at 2026-11-02T09:03:00+00:00 seq 123456 cus_0001 offset 42 took 12.5 ms"
    assert mask_text(text) == text


def test_sensitive_keys_are_masked_whatever_their_value() -> None:
    event = mask_event({"event": "created contact", "first_name": "Ada", "last_name": "Lovelace",
                        "Phone": "0301810111", "billing_email": "x", "tenant": "default",
                        "fields": {"Name": "Globex", "Website": "https://globex.example", "tax_ids": ["X"]},
                        "system": "salesforce"})
    assert event["first_name"] == event["last_name"] == event["Phone"] == event["billing_email"] == "***"
    assert event["fields"] == {"Name": "***", "Website": "https://globex.example", "tax_ids": "***"}
    assert event["tenant"] == "default" and event["system"] == "salesforce"


def test_stdlib_line_is_json_with_context_and_masked() -> None:
    logger, stream = capture("concord.test.stdlib")
    with log_context(correlation_id="corr-9", tenant="acme", customer="cus_1", step="create_erp_party"):
        logger.info("sent invoice to %s", "ap@globex.example")
    line = orjson.loads(stream.getvalue().splitlines()[-1])
    assert line["event"] == "sent invoice to ***"
    assert (line["correlation_id"], line["tenant"], line["customer"], line["step"]) == (
        "corr-9", "acme", "cus_1", "create_erp_party")
    assert line["level"] == "info" and line["logger"] == "concord.test.stdlib"


def test_structlog_line_masks_names_by_key_and_exceptions_by_pattern() -> None:
    configure_structlog()
    _, stream = capture("concord.test.structlog")
    log = structlog.get_logger("concord.test.structlog")
    try:
        raise ValueError("refused VAT DE123456789 for ap@globex.example")
    except ValueError:
        log.exception("party update failed", name="Ada Lovelace", record={"email": "a@b.example", "id": 7})
    rendered = stream.getvalue().splitlines()[-1]
    line = orjson.loads(rendered)
    assert line["name"] == "***" and line["record"] == {"email": "***", "id": 7}
    assert "ValueError" in line["exception"] and find_pii(rendered) == []


def test_the_suite_wide_catcher_reports_a_line_that_escaped_masking() -> None:
    catcher = _PiiLeakCatcher()
    record = logging.LogRecord("concord.x", logging.INFO, __file__, 1, "mail %s", ("ap@globex.example",), None)
    catcher.emit(record)
    assert catcher.leaks == [] and catcher.lines == 1  # masked by the production formatter
    catcher.setFormatter(logging.Formatter("%(message)s"))  # a handler without masking
    catcher.emit(record)
    assert len(catcher.leaks) == 1 and leaks_in("ap@globex.example") == ["ap@…le"]
