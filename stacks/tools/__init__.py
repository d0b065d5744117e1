"""The offline tools, above the program: they load a stack, run the program under Pulumi's mock
runtime and report on what it registers (`python -m stacks ...`, stacks/tools/cli.py)."""
