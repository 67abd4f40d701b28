"""Institutional context and constraints edited by the product team, versioned and enforced."""
