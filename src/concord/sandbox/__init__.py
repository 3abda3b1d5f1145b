"""Sandbox twins: local emulators of external SaaS APIs, faithful to their documented subset."""
