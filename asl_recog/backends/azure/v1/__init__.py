"""backends/azure/v1."""
