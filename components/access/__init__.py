"""The access layer: team namespaces with quota, network isolation and RBAC, and platform access."""
