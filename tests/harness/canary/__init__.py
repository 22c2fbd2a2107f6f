"""Simulated canary traffic and the Kayenta re-implementation the canary benchmark compares with."""
