"""Management commands of the institutional app."""
