"""The bridge's Alembic environment; run it through ``cloud_bridge.db.migrate``."""
