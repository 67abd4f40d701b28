"""Template filters of the dashboard pages."""
