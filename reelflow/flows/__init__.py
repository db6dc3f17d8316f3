"""Prefect flows: thin, calling tasks and domain code. The only package importing prefect."""
