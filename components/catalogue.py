"""The one catalogue of pinned versions: Kubernetes policy levels, charts, operators and images.

Every component reads its versions from here, so an upgrade is one reviewed change to this file.
"""

from dataclasses import dataclass

# Pod Security Admission: the level and the Kubernetes minor version whose definition of that
# level applies. Pinning the version keeps a cluster upgrade from silently tightening or
# loosening the standard; raise it together with the clusters' Kubernetes version.
POD_SECURITY_LEVEL = "restricted"
POD_SECURITY_VERSION = "v1.33"

# Ingress: the IngressClass the platform's ingress-nginx serves, and the cert-manager
# ClusterIssuer that signs every Ingress certificate.
INGRESS_CLASS = "nginx"
CLUSTER_ISSUER = "platform-issuer"


# Helm charts: each chart-based component names its ChartRef here, so every chart version is
# pinned in this file. Where a chart comes from (repository, OCI mirror, local directory, or not
# installed) is the stack's `charts` setting, applied by components/charts.py.
@dataclass(frozen=True)
class ChartRef:
    name: str
    version: str
    repository: str
