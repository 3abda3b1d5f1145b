"""Declarative, versioned mappings between each system's fields and the canonical model."""
