"""Identity matching of accounts and contacts.

`keys` exact business keys (ingest's binder); `normalize` → `specs` (fields, blocking keys) → `compare` →
`model` (Fellegi-Sunter weights, EM, training) → `decision` (score, outcome, per-field evidence). `index` is the
online duplicate check, `batch` deduplication and linkage, `store` the only module doing I/O, `cli` the
`concord dedupe` command, `synth` the seeded labelled company data set. See docs/decisions/020 and 021.
"""
