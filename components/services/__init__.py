"""Shared services: ingress and certificates, data services run by their operators, registry and backups."""
