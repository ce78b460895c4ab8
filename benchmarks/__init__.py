"""`make bench`: the whole chain measured on the real data sets, next to the TensorFlow tutorial recipe.

Benchmarks measure and report; tests assert behaviour. Run from the
repository root: `python -m benchmarks --help`.
"""
