"""Hub: one governed, audited API for media players, people, automations and AI agents."""

__version__ = "0.1.0"
