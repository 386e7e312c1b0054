"""Deploying a model as a scoring service, and calling a deployed one.

One interface, ``Deployer.create(target).deploy(model) -> Endpoint``, for three targets:

- ``"local"``: :class:`LocalDeployer` runs ``python -m asl_recog.serving`` in a subprocess;
- ``"azure"``: :class:`AzureDeployer`, an Azure ML managed online endpoint (SDK v2);
- ``"azureml"``: :class:`AzureMLDeployer`, Azure Container Instances (SDK v1, deprecated).

:class:`RemoteEndpoint` calls any deployed service over HTTP. The Azure deployers ship the
generated ``score.py`` (``_templates/``), which accepts the same requests as the service.
No Azure SDK, HTTP client or web server loads on import; each loads on first use.

Example:
    >>> from asl_recog.deploy import Deployer, LocalDeployer
    >>> deployer = Deployer.create("local", auth=False)
    >>> isinstance(deployer, LocalDeployer), deployer.auth
    (True, False)
"""

from __future__ import annotations

# Importing each deployer registers its target with Deployer.create (all are light to import).
from asl_recog.deploy._azure_v1 import AzureMLDeployer
from asl_recog.deploy._azure_v2 import AzureDeployer
from asl_recog.deploy._base import Deployer, Endpoint
from asl_recog.deploy._client import EndpointError, RemoteEndpoint
from asl_recog.deploy._local import DeploymentError, LocalDeployer, LocalEndpoint

__all__ = [
    "AzureDeployer",
    "AzureMLDeployer",
    "Deployer",
    "DeploymentError",
    "Endpoint",
    "EndpointError",
    "LocalDeployer",
    "LocalEndpoint",
    "RemoteEndpoint",
]
