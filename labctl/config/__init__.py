"""Lab configuration: YAML files validated into pydantic models.

* :mod:`~labctl.config.fields` — quantities with units, the strict base model, limit ranges;
* :mod:`~labctl.config.sections` — the lab, devices, twins, store, simulation, campaign sections;
* :mod:`~labctl.config.envelope` — a campaign's approval envelope;
* :mod:`~labctl.config.loader` — YAML in (duplicate keys refused, ``extends`` merged), validated
  config out, every problem with its file and key path.
"""

from labctl.config.envelope import Envelope
from labctl.config.fields import (
    QUANTITY_SERIALIZER,
    Duration,
    LimitRange,
    QuantityField,
    StrictModel,
    quantity_validator,
)
from labctl.config.loader import (
    LoadedConfig,
    config_hash,
    issues_from_validation_error,
    load_config,
    parse_config,
)
from labctl.config.sections import (
    COMPOSITE_DRIVER,
    ApprovalSection,
    BudgetSection,
    CampaignSection,
    ChaosSection,
    DeviceConfig,
    FailurePolicySection,
    InterlockName,
    LabConfig,
    LabSection,
    OptimizerSection,
    PublishSection,
    SafetySection,
    SimulationSection,
    StatusServerSection,
    StoreSection,
    Timeouts,
    TwinConfig,
)

__all__ = [
    "COMPOSITE_DRIVER",
    "QUANTITY_SERIALIZER",
    "ApprovalSection",
    "BudgetSection",
    "CampaignSection",
    "ChaosSection",
    "DeviceConfig",
    "Duration",
    "Envelope",
    "FailurePolicySection",
    "InterlockName",
    "LabConfig",
    "LabSection",
    "LimitRange",
    "LoadedConfig",
    "OptimizerSection",
    "PublishSection",
    "QuantityField",
    "SafetySection",
    "SimulationSection",
    "StatusServerSection",
    "StoreSection",
    "StrictModel",
    "Timeouts",
    "TwinConfig",
    "config_hash",
    "issues_from_validation_error",
    "load_config",
    "parse_config",
    "quantity_validator",
]
