"""complete-cluster CrossGuard policy pack.

Importable from the repository root (`import policies`) so that the scanner
(`python -m policies.scan`), the tests and the offline review reuse the rules:

* `policies.pack.SPECS` - every policy as a pure `PolicySpec` (name, description, default
  enforcement level, config schema, check function);
* `policies.pack.pulumi_policies()` - the same as pulumi-policy objects, for a `PolicyPack` or
  pulumi-policy's analyzer service;
* `policies.evaluate.Evaluator` - runs the rules on property dictionaries with
  `--policy-pack-config` semantics (`policies.enforcement`).

Importing this package does not import the Pulumi runtime or pulumi-policy.
"""
