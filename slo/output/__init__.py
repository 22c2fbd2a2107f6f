"""The output layer: renders artifacts with the one writer of each format and writes OUT."""
