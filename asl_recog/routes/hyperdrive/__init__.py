"""routes/hyperdrive."""
