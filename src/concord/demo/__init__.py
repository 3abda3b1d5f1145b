"""The bundled demo: CRM and ERP change streams for a few hundred customers, and what Concord decides."""
