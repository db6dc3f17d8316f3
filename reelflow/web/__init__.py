"""The HTTP API (Litestar): app factory, auth, problem details, routes per area."""
