"""Template filters of the inbox pages."""
