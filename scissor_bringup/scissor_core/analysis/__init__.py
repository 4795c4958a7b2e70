"""Measuring and reporting: profiles, calibration, verification, benchmarks, evaluation, experiments, metrics."""
