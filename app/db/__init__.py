"""Storage: tables, the database engine, the event log with its projections."""
