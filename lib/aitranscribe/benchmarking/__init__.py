"""Measuring speed fairly (stage 07): one arm per process, timing statistics, equal-output checks, speedups."""
