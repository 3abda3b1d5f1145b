"""Concord: a hub that keeps customer lifecycle data consistent across CRM, ERP, billing, support and identity."""

from pathlib import Path

from concord.nativeguard import guard

__version__ = "0.1.0"

# Before any module of the compiled hot path is imported: a stale extension must never run (decision 089).
NATIVE = guard(Path(__file__).parent)
