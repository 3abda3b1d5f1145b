"""Field-level ownership: which system of record owns each canonical field, and the gate that enforces it."""
