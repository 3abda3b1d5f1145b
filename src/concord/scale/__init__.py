"""Scale-out: `concord worker` processes sharing one PostgreSQL and one NATS JetStream (docs/decisions/060-063)."""
