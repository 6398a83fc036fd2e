"""The pack-station process (workflow, local cache and outbox)."""
