"""Management commands of the platform package."""
