"""The AzureBackend (SDK v2) tests. A package, so that its conftest.py imports as azure_v2.conftest:
`pytest --doctest-modules tests` imports every conftest.py as a module, and two named plain `conftest` clash."""
