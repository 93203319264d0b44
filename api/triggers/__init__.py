"""Webhook triggers: a tenant's endpoint that starts its pipeline from a signed HTTP delivery."""

from api.triggers.store import Trigger, TriggerStore, new_secret, signature_valid

__all__ = ["Trigger", "TriggerStore", "new_secret", "signature_valid"]
