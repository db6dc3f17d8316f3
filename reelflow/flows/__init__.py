"""Prefect flows: thin schedulers that select what is due through services and submit
runtime jobs with deterministic keys. The only package importing prefect."""

from reelflow.logs import mask_stdlib_records

mask_stdlib_records()  # flow logs (Prefect's console and API handlers) are masked like the app's
