"""Pure product rules: no I/O, imports nothing of the project but `errors`."""
