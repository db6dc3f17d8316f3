"""Typed models, one module per area. Importing this package registers every table."""

from reelflow.storage.models import ads as ads
from reelflow.storage.models import audit as audit
from reelflow.storage.models import autopilot as autopilot
from reelflow.storage.models import clippers as clippers
from reelflow.storage.models import clipping as clipping
from reelflow.storage.models import discovery as discovery
from reelflow.storage.models import identity as identity
from reelflow.storage.models import leads as leads
from reelflow.storage.models import monitoring as monitoring
from reelflow.storage.models import ops as ops
from reelflow.storage.models import publishing as publishing

# <area models: each area imports its module here>
from reelflow.storage.models import runtime as runtime
from reelflow.storage.models.base import Base as Base
