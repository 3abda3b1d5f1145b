"""Operations and observability: Prometheus metrics, structured logs with PII masking, traces, health checks,
and the incremental projections (time series, customer links) the console reads."""
