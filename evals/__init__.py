"""Golden conversations: scenario files, their runner through the real pipeline, and the runs' results."""
