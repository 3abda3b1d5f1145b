"""Durable lifecycle workflows on DBOS: one module per business process, steps that call connectors through the
resilience runtime, exception tasks that pause a run until a person corrects the data. See README "Workflows"."""
