"""The canonical customer model: pure types, no I/O."""
