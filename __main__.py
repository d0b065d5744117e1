"""Entry point for `pulumi up` / `pulumi preview`: validate the stack's config, then build it."""

import pulumi

from components.program import build
from components.runtime import tune_garbage_collector
from stacks.loader import ConfigError, load_for_engine

tune_garbage_collector()

try:
    stack = load_for_engine(pulumi.get_stack())
except ConfigError as error:
    # RunError ends the program with just this message: every problem, no traceback, and
    # nothing registered.
    raise pulumi.RunError(str(error)) from None

build(stack)
