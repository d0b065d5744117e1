"""The one catalogue of pinned versions: Kubernetes policy levels, charts, operators and images.

Every component reads its versions from here, so an upgrade is one reviewed change to this file.
"""

# Pod Security Admission: the level and the Kubernetes minor version whose definition of that
# level applies. Pinning the version keeps a cluster upgrade from silently tightening or
# loosening the standard; raise it together with the clusters' Kubernetes version.
POD_SECURITY_LEVEL = "restricted"
POD_SECURITY_VERSION = "v1.33"

# Ingress: the IngressClass the platform's ingress-nginx serves, and the cert-manager
# ClusterIssuer that signs every Ingress certificate.
INGRESS_CLASS = "nginx"
CLUSTER_ISSUER = "platform-issuer"
