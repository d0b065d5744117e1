"""Offline tools for stack files: `python -m stacks {validate,inventory,review,schema} ...`.

Nothing here needs the Pulumi CLI, a cloud account or a cluster.
"""

from __future__ import annotations

import argparse
import sys

from pathlib import Path

from .loader import ConfigError, load, shipped_stacks


def _stack_and_path(argument: str) -> tuple[str, Path | None]:
    """A stack name (`prod`) or a stack file path (`stacks/Pulumi.prod.yaml`, `/tmp/Pulumi.x.yaml`)."""
    if argument.endswith((".yaml", ".yml")) or "/" in argument:
        path = Path(argument)
        name = path.name.removeprefix("Pulumi.").rsplit(".", 1)[0]
        return name, path
    return argument, None


def _validate(args) -> int:
    stacks = args.stacks or shipped_stacks()
    failed = 0
    for argument in stacks:
        stack, path = _stack_and_path(argument)
        try:
            load(stack, path)
        except ConfigError as error:
            print(error, file=sys.stderr)
            failed += 1
        else:
            print(f"{stack}: ok")
    return 1 if failed else 0


def _inventory(args) -> int:
    from .inventory import as_json, as_text, evaluate

    try:
        registrations = evaluate(*_stack_and_path(args.stack))
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    print(as_json(registrations) if args.json else as_text(registrations))
    return 0


def _review(args) -> int:
    from .review import main as review

    stack, path = _stack_and_path(args.stack)
    return review(stack, path, markdown=args.markdown, config=args.config)


def _schema(args) -> int:
    from .schema import SCHEMA_FILE, render_schema

    text = render_schema()
    if args.check:
        if not SCHEMA_FILE.exists() or SCHEMA_FILE.read_text() != text:
            print(f"{SCHEMA_FILE.name} is stale; run `python -m stacks schema` and commit it", file=sys.stderr)
            return 1
        print(f"{SCHEMA_FILE.name} is up to date")
        return 0
    SCHEMA_FILE.write_text(text)
    print(f"wrote {SCHEMA_FILE}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stacks", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check stack config and print every problem")
    validate.add_argument("stacks", nargs="*", help="stack names or stack file paths (default: every stack file in stacks/)")
    validate.set_defaults(run=_validate)

    inventory = commands.add_parser("inventory", help="every resource the stack would register (mock runtime)")
    inventory.add_argument("stack", help="a stack name or a stack file path")
    inventory.add_argument("--json", action="store_true", help="a JSON list of {type, name, parent, inputs, options}")
    inventory.set_defaults(run=_inventory)

    review = commands.add_parser("review", help="run the policy pack over the stack's resources (mock runtime); exit 1 on a mandatory violation")
    review.add_argument("stack", help="a stack name or a stack file path")
    review.add_argument("--markdown", action="store_true", help="a Markdown report for a merge-request comment")
    review.add_argument("--config", metavar="FILE", help="policy pack config (default: policies/config/<environment>.json)")
    review.set_defaults(run=_review)

    schema = commands.add_parser("schema", help="write the stack-file JSON Schema generated from the model")
    schema.add_argument("--check", action="store_true", help="exit 1 if the committed schema is stale")
    schema.set_defaults(run=_schema)

    from .parity import add_parser as add_parity

    add_parity(commands)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
