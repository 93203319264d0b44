"""Temporal workflows: the generic PipelineWorkflow, its runtime, and the client-side engine."""
