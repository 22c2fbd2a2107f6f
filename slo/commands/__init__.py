"""Subcommands of triton-slo, one module each."""
