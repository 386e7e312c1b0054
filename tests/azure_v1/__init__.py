"""The AzureMLBackend (SDK v1) tests. A package, so that its conftest.py imports as azure_v1.conftest:
`pytest --doctest-modules tests` imports every conftest.py as a module, and two named plain `conftest` clash."""
