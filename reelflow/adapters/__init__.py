"""Everything outside: platforms over HTTP, media tools. Imports settings and errors only."""
