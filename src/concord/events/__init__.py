"""Lifecycle events: types, derivation from golden-record changes, the outbox relay and log backends."""
