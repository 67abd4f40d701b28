"""Settings split per environment: base, local, test, production."""
