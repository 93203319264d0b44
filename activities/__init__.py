"""Temporal activities: one per registered step (activity type = step name)."""

from activities.step_activities import build_step_activities

__all__ = ["build_step_activities"]
