"""YAML automations: triggers, conditions and actions that run under governance.

Each automation acts as its own principal (`automation:<id>`, kind "automation", with the
maturity it is configured with) through the one action pipeline, so the governance gate and
the audit log apply to it exactly as to a person or an agent. See docs/automations.md.
"""

from hub.automations.engine import AutomationEngine
from hub.automations.routes import register_routes
from hub.automations.schema import AUTOMATIONS_SCHEMA

__all__ = ["AUTOMATIONS_SCHEMA", "AutomationEngine", "register_routes"]
