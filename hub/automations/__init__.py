"""YAML automations in Home Assistant's language, run under governance.

Triggers start runs, conditions gate them, actions (device actions, delays, waits, choose,
if, repeat, parallel, variables, events, ...) run with sandboxed Jinja2 templates. Each
automation acts as its own principal (`automation:<id>`, kind "automation", with the maturity
it is configured with) through the one action pipeline, so the governance gate and the audit
log apply to it exactly as to a person or an agent; the audit links every device action to
its run and step. Traces keep the last runs for debugging. See docs/automations.md.
"""

from hub.automations.engine import AutomationEngine
from hub.automations.routes import register_routes
from hub.automations.schema import AUTOMATIONS_SCHEMA

__all__ = ["AUTOMATIONS_SCHEMA", "AutomationEngine", "register_routes"]
