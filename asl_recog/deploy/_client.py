"""A client for a deployed scoring service: ours, the generated Azure score.py, or the seed's AutoML service."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np

from asl_recog._errors import AslRecogError
from asl_recog.data._labels import LETTERS, NUM_CLASSES, NUM_PIXELS, labels_to_indices, labels_to_letters
from asl_recog.models._base import to_model_input

logger = logging.getLogger("asl_recog")
#: Statuses worth retrying: the service is starting, overloaded, or behind a restarting proxy.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class EndpointError(AslRecogError, RuntimeError):
    """A scoring service refused a request or could not be reached.

    Attributes:
        status_code: the HTTP status, or None when no answer came.
        detail: the service's explanation (its JSON ``detail``), if any.

    Example:
        >>> with LocalDeployer().deploy("runs/best.onnx") as endpoint:
        ...     try:
        ...         RemoteEndpoint(endpoint.scoring_uri, key="wrong").predict(test[:2])
        ...     except EndpointError as exc:
        ...         print(exc.status_code, exc.detail)
        401 invalid API key
    """

    def __init__(self, message: str, *, status_code: int | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.status_code, self.detail = status_code, detail


class RemoteEndpoint:
    """Scores images on a deployed service over HTTP, with bounded retries.

    Sends ``{"Inputs": {"data": [[784 pixels], ...]}, "GlobalParameters": {"method": ...}}``,
    which ``asl-recog serve`` and the generated Azure ``score.py`` both accept
    (``records=True`` sends pixel records ``{"data": [{"pixel1": ...}]}``, the shape
    Azure AutoML v1 services expect). Double-encoded JSON answers (a JSON string
    holding JSON, as the seed's Azure service sent) are decoded too.

    Args:
        scoring_uri: the service's scoring URL, e.g. ``http://127.0.0.1:8000/score``.
        key: the API key, sent as ``Authorization: Bearer <key>``; None sends none.
        timeout: seconds per HTTP request.
        retries: how many times a failed connection or a 429/502/503/504 is retried.
        backoff: first wait between retries in seconds; doubles each time (capped at 8 s).
        batch_size: images per request; larger inputs are split.
        records: send pixel records instead of lists.
        client: an ``httpx.Client`` to use (e.g. FastAPI's TestClient); default: a new one.

    Example:
        >>> service = LocalDeployer().deploy("runs/best.onnx")  # any deployed service; here a local one
        >>> endpoint = RemoteEndpoint(service.scoring_uri, key=service.keys[0])
        >>> endpoint.predict_letters(load_sign_mnist("test")[1:10])
        array(['R', 'W', 'E', 'D', 'W', 'W', 'O', 'D', 'T'], dtype='<U1')
        >>> service.delete()
    """

    def __init__(
        self,
        scoring_uri: str,
        key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        batch_size: int = 256,
        records: bool = False,
        client: Any = None,
    ) -> None:
        if retries < 0 or batch_size < 1 or timeout <= 0:
            raise ValueError("retries must be >= 0, batch_size >= 1 and timeout > 0")
        self.scoring_uri, self.key = scoring_uri, key
        self.retries, self.backoff, self.batch_size, self.records = retries, backoff, batch_size, records
        if client is None:
            import httpx

            client = httpx.Client(timeout=timeout)
            self._owns_client = True
        else:
            self._owns_client = False
        self._client = client

    # -- public API ------------------------------------------------------------------------------

    def predict(self, images: Any) -> np.ndarray:
        """Dataset labels (0-24 without 9) of the images."""
        return np.concatenate(
            [np.asarray(answer["result"], dtype=np.int64) for answer, _ in self._score(images, "predict")]
            or [np.zeros(0, np.int64)]
        )

    def predict_letters(self, images: Any) -> np.ndarray:
        """Letters of the images, e.g. ``array(['A', 'Y'])``."""
        return labels_to_letters(self.predict(images))

    def predict_proba(self, images: Any) -> np.ndarray:
        """``(N, 24)`` float32 probabilities, columns in :data:`LETTERS` order."""
        parts = []
        for answer, n in self._score(images, "predict_proba"):
            proba = np.asarray(answer.get("probabilities"), dtype=np.float32)
            if proba.shape != (n, NUM_CLASSES):
                raise EndpointError(
                    f"{self.scoring_uri}: expected probabilities of shape ({n}, {NUM_CLASSES}), "
                    f"got {proba.shape}; the service may not support method predict_proba"
                )
            classes = answer.get("classes") or list(LETTERS)
            order = [list(classes).index(letter) for letter in LETTERS]
            parts.append(proba[:, order])
        return np.concatenate(parts) if parts else np.zeros((0, NUM_CLASSES), np.float32)

    def close(self) -> None:
        """Close the HTTP client (if this object made it)."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> RemoteEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteEndpoint({self.scoring_uri!r}, key={'***' if self.key else None})"

    # -- plumbing --------------------------------------------------------------------------------

    def _score(self, images: Any, method: str) -> list[tuple[dict[str, Any], int]]:
        pixels = np.rint(to_model_input(images).reshape(-1, NUM_PIXELS) * 255.0).astype(np.uint8)
        answers = []
        for start in range(0, len(pixels), self.batch_size):
            chunk = pixels[start : start + self.batch_size].tolist()
            if self.records:
                body: dict[str, Any] = {"data": [{f"pixel{i + 1}": v for i, v in enumerate(row)} for row in chunk]}
                if method == "predict_proba":
                    body["method"] = method
            else:
                body = {"Inputs": {"data": chunk}, "GlobalParameters": {"method": method}}
            answer = self.post(body)
            result = answer.get("result")
            if not isinstance(result, list) or len(result) != len(chunk):
                raise EndpointError(
                    f"{self.scoring_uri}: expected 'result' with {len(chunk)} labels, got {str(result)[:100]}"
                )
            labels_to_indices(np.asarray(result, dtype=np.int64))  # raises on labels that are not signs
            answers.append((answer, len(chunk)))
        return answers

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a JSON body to the scoring URI and return the decoded answer, retrying transient failures."""
        import httpx

        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        content = json.dumps(body).encode()
        for attempt in range(self.retries + 1):
            last_attempt = attempt == self.retries
            try:
                response = self._client.post(self.scoring_uri, content=content, headers=headers)
            except httpx.TransportError as exc:  # refused, reset, timed out: worth another try
                if last_attempt:
                    raise EndpointError(
                        f"{self.scoring_uri}: no answer after {attempt + 1} attempt(s) ({type(exc).__name__}: {exc})"
                    ) from exc
                self._wait(attempt, f"{type(exc).__name__}")
                continue
            if response.status_code in RETRY_STATUSES and not last_attempt:
                self._wait(attempt, f"HTTP {response.status_code}")
                continue
            return self._decode(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, attempt: int, reason: str) -> None:
        delay = min(self.backoff * 2**attempt, 8.0)
        logger.info("%s: %s; retrying in %.2f s", self.scoring_uri, reason, delay)
        time.sleep(delay)

    def _decode(self, response: Any) -> dict[str, Any]:
        try:
            answer: Any = response.json()
            if isinstance(answer, str):  # double-encoded JSON from older Azure scoring scripts
                answer = json.loads(answer)
        except ValueError:
            answer = None
        if response.status_code >= 400:
            detail = answer.get("detail") if isinstance(answer, dict) else response.text[:300]
            hint = " (check the key)" if response.status_code == 401 else ""
            raise EndpointError(
                f"{self.scoring_uri}: HTTP {response.status_code}{hint}: {detail}",
                status_code=response.status_code,
                detail=detail,
            )
        if not isinstance(answer, dict):
            raise EndpointError(
                f"{self.scoring_uri}: the answer is not a JSON object: {response.text[:200]!r}",
                status_code=response.status_code,
            )
        if "error" in answer and "result" not in answer:  # score.py's error dict where it cannot set a status
            raise EndpointError(
                f"{self.scoring_uri}: {answer.get('detail') or answer['error']}",
                status_code=response.status_code,
                detail=answer.get("detail"),
            )
        return answer
