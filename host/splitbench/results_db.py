"""Moved to :mod:`splitbench.results` (db, schema, identity, records, store); this name stays so
code written against it keeps working."""

from splitbench.results import *  # noqa: F403
from splitbench.results import __all__  # noqa: F401
