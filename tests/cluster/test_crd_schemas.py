"""The CRD schemas the charts install, as the API server stores them.

The Kubernetes provider compares a chart's object with the live one, so a CRD whose schema the API server stores
differently from the chart's file (a zero-valued field it drops) would be updated on every `up`. The program's
charts carry a transform that gives each CRD's schema as stored (components/charts.py `schema_as_stored`); here the
API server says whether that is what it stores, for every CRD of every chart in the offline mirror.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from cluster_plane import POOLS_STACK, ControlPlane
from components.charts import schema_as_stored
from conftest import started
from tests.crds import every_mirror_crd

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def plane(tmp_path_factory) -> Iterator[ControlPlane]:
    """A control plane of its own: stopping it (2 s) is quicker than deleting 78 CRDs from the session's (about 30 s,
    each CRD's cleanup finalizer in turn)."""
    with contextmanager(started)(tmp_path_factory, POOLS_STACK) as control_plane:
        yield control_plane


def test_every_mirrored_crd_is_stored_with_the_schema_the_charts_transform_gives(plane: ControlPlane):
    crds = {doc["metadata"]["name"]: doc for _, doc in every_mirror_crd()}
    # Strimzi 1.2.0's Kafka CRD spells out `properties: {}` (status.clusterSecurity): the case that made a second
    # `up` of the complete cluster update it again.
    assert "kafkas.kafka.strimzi.io" in crds and len(crds) >= 50, sorted(crds)
    documents = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(crds.values())})
    started_at = time.monotonic()
    plane.kubectl("apply", "--server-side", "--field-manager=crd-schema-test", "-f", "-", input=documents)
    applied = time.monotonic() - started_at
    stored = {item["metadata"]["name"]: item for item in json.loads(
        plane.kubectl("get", "--raw", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions").stdout)["items"]}
    differ, changed = [], set()
    for name, crd in crds.items():
        for written, served in zip(crd["spec"]["versions"], stored[name]["spec"]["versions"], strict=True):
            schema = (written.get("schema") or {}).get("openAPIV3Schema")
            if schema is None:
                continue
            if schema_as_stored(schema) != served["schema"]["openAPIV3Schema"]:
                differ.append(f"{name} {written['name']}")
            if schema_as_stored(schema) != schema:
                changed.add(name)
    assert not differ, f"stored otherwise than schema_as_stored gives: {differ}"
    print(f"\n{len(crds)} CRDs applied in {applied:.1f}s, each stored as schema_as_stored gives; it changes {sorted(changed)}")
