"""The infrastructure layer: where the cluster comes from and the Kubernetes provider that reaches it."""
