"""A real Tryton ERP server (trytond 8.2 on SQLite) for tests and the demo.

Not an emulator: `ensure_template` builds a database with the ERP modules and a minimal accounting setup once
per machine, and `TrytonServer` runs `trytond` on loopback from a copy of it. Needs the `erp` extra.
"""

from concord.sandbox.tryton.server import TrytonServer, TrytonServerError
from concord.sandbox.tryton.settings import DEFAULT_MODULES, TrytonServerSettings
from concord.sandbox.tryton.template import (
    CompanyInfo,
    TemplateBuildError,
    TemplateInfo,
    TemplateMeta,
    ensure_template,
    template_key,
    trytond_available,
)

__all__ = [
    "DEFAULT_MODULES",
    "CompanyInfo",
    "TemplateBuildError",
    "TemplateInfo",
    "TemplateMeta",
    "TrytonServer",
    "TrytonServerError",
    "TrytonServerSettings",
    "ensure_template",
    "template_key",
    "trytond_available",
]
