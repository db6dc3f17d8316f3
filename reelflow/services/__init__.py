"""Use cases shared by the API, the workers and the schedules (one module per area)."""
