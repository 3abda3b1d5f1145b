"""API keys and scopes, tenants, secret encryption and rotation, the audit chain."""
