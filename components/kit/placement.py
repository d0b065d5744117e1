"""Where data-service pods run: the database node pool (kinds/aks.yaml, the Rancher sites' `database`
machine pool), whose label every instance requires and whose taint it tolerates."""

from __future__ import annotations

from typing import Any

from stacks import catalogue


def database_tolerations() -> list[dict[str, str]]:
    return [dict(catalogue.DATABASE_NODE_TAINT)]


def database_node_selector() -> dict[str, str]:
    key, value = catalogue.DATABASE_NODE_LABEL
    return {key: value}


def database_node_affinity() -> dict[str, Any]:
    key, value = catalogue.DATABASE_NODE_LABEL
    return {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": key, "operator": "In", "values": [value]}]}]
        }
    }
