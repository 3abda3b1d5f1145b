"""Concord: a hub that keeps customer lifecycle data consistent across CRM, ERP, billing, support and identity."""

__version__ = "0.1.0"
