"""One module per concern; each exposes its `PolicySpec` objects (see `policies.pack`)."""
