"""Services that write conversations: ingestion, state decisions, run leases, sessions, delivery."""
