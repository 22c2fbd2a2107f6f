"""triton-slo: SLO operations for models served on NVIDIA Triton with DCGM telemetry."""

__version__ = "0.1.0"
