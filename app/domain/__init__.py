"""The meeting engine: pure rules, no I/O. See engine.decide and engine.apply."""
