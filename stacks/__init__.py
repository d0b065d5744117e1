"""Stack files, their configuration model and the offline tools (`python -m stacks ...`)."""
