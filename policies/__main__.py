"""Entry point of the CrossGuard pack: `pulumi preview --policy-pack policies`.

The engine runs this file with `policies/` itself on sys.path; the rules live in the `policies`
package, so the repository root is put on the path first.
"""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.pack import PACK_NAME, pulumi_policies  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=pulumi_policies(),
)
