"""The Azure ML backends: what both SDKs share (data, translation, results, refit), then v1/ and v2/."""

from __future__ import annotations
