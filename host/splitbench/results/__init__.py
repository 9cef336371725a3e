"""The results database (one SQLite file per run directory) and what identifies a measurement.

``db`` holds :class:`ResultsDB` (writers, resume queries, readers), ``schema`` the tables and
upgrades, ``identity`` the settings identity, ``records`` the dataclasses handed out, ``store``
safe opening (health check, environment faults) and transactions.
"""

from splitbench.results.db import ROLES, STRATEGIES, ResultsDB
from splitbench.results.identity import SettingsRecord, settings_hash, settings_key
from splitbench.results.records import (
    AnchorResult,
    CodecResult,
    ModelRecord,
    SplitRecord,
    StoredMeasurement,
    TargetRecord,
)
from splitbench.results.schema import APPLICATION_ID, SCHEMA_VERSION
from splitbench.results.store import BUSY_TIMEOUT_S

__all__ = [
    "APPLICATION_ID",
    "BUSY_TIMEOUT_S",
    "ROLES",
    "SCHEMA_VERSION",
    "STRATEGIES",
    "AnchorResult",
    "CodecResult",
    "ModelRecord",
    "ResultsDB",
    "SettingsRecord",
    "SplitRecord",
    "StoredMeasurement",
    "TargetRecord",
    "settings_hash",
    "settings_key",
]
