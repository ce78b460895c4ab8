"""Robustness of exported files: seeded, deterministic perturbations of test inputs."""
