"""backends/azure."""
