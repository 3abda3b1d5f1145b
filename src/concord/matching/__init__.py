"""Identity matching of accounts and contacts.

`keys` exact business keys (ingest's binder); `normalize` → `specs` (fields, blocking keys) → `compare` →
`model` (Fellegi-Sunter weights, EM, training) → `decision` (score, outcome, per-field evidence). `index` is the
online duplicate check and `online` how ingest acts on it (link, hold, new), `onboarding` link-or-create
against a system's own candidates, `batch` deduplication and linkage, `survivorship` (pure) and `merging` merge
and unmerge, `review` the steward's verdicts; `store`, `merging` and `review` do I/O. `cli` / `review_cli` the
commands, `synth` the seeded labelled company data set. See docs/decisions/020-023, 026, 027.
"""
