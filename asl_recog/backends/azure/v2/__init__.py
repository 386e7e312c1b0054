"""backends/azure/v2."""
