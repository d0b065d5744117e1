"""Shared helpers for the rules: unknown-value handling, Kubernetes shapes, policy specs.

Nothing in here imports the Pulumi runtime or pulumi-policy, so the rules stay pure functions
that the scanner, the tests and the offline review can call directly.
"""
