"""Postgres state (SQLAlchemy 2 async), blobs, crypto. All SQL lives in repositories."""
