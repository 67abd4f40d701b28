"""Tests of the conversations app."""
