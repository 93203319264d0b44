"""Recorded PipelineWorkflow histories, replayed by tests/workflows/test_replay.py."""
