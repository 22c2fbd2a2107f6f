"""Readers for other SLO formats (Sloth prometheus/v1, OpenSLO v1) onto slo.model."""
