"""The platform kit: what every namespace and pod of the platform needs, written once.

- namespaces.py: the hardened namespace (Pod Security labels at the pinned level, default-deny,
  DNS) every builder starts from, and the service namespace most platform services run in;
- network.py: NetworkPolicy building blocks (peers, ports, DNS, the API server);
- security.py: Pod Security `restricted` contexts and Guaranteed resources;
- images.py: where the stack pulls each upstream image from (`ImageSource`);
- placement.py: the database node pool every data-service pod runs on;
- options.py: resource options for ordering and protection.
- generated.py: passwords generated once and kept as secrets in state (a Pulumi dynamic resource);
- certificates.py: certificates from the cluster's internal CA (cert-manager).
"""
