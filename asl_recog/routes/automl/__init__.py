"""routes/automl."""
