"""Durable lifecycle workflows on Concord's workflow journal (decision 081): one module per business process,
steps that call connectors through the resilience runtime, exception tasks that pause a run until a person
corrects the data. See README "Workflows"."""
