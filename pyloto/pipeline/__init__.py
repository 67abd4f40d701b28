"""Pipeline orchestration: what runs after a message is stored, up to the reply being sent."""
