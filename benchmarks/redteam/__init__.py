"""The red team: hostile and harmless candidate replies through the guard and through the whole pipeline."""
