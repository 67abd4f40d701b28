"""Platform code shared by the apps: WhatsApp channel, pipeline, observability, resilience."""
