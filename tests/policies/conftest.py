"""Fixtures for the policy tests: compliant objects built once (policy_helpers), copied per test."""

from __future__ import annotations

import copy

import pytest

from policy_helpers import DEPLOYMENT, POD


@pytest.fixture
def pod() -> dict:
    """A Pod that meets the restricted standard, with init, regular and ephemeral containers."""
    return copy.deepcopy(POD)


@pytest.fixture
def deployment() -> dict:
    """A Deployment that every workload policy accepts."""
    return copy.deepcopy(DEPLOYMENT)
