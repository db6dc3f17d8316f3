"""Repositories: every SQL query lives here, one module per area."""

from typing import Any, TypeAlias

from sqlalchemy.engine import Row

# A Core result row of any width (list queries read columns, not ORM objects); its attributes
# are named like the model's, so the web layer shapes it like the model instance.
AnyRow: TypeAlias = Row[*tuple[Any, ...]]
