"""Benchmarks (not tests): ``python -m bench.overhead`` measures the DSL's overhead."""
