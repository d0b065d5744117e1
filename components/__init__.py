"""Pulumi component resources that compose a complete cluster."""
