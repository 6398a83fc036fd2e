"""The data-warehouse export, run against real SQLite and PostgreSQL bridge databases."""
