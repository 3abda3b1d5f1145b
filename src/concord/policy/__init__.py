"""Business policy kept outside the code: YAML decision tables (onboarding eligibility, account classification,
territory, tax/region enrichment, credit profile), evaluated purely, reloaded when the file changes; every
decision names the rule and the rule-set version that made it."""
