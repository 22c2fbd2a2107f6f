"""Test and demo infrastructure: the real stack, the demo, the canary simulator and Kayenta's rule.

Not part of the installed package; tests, benchmarks and `make demo` import it with tests/ on sys.path.
"""
