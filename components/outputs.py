"""Names of the stack outputs. Exported only from __main__.py (through components.program)."""

ENVIRONMENT = "environment"
SITE = "site"
INFRASTRUCTURE = "infrastructure"
RENDER_DIRECTORY = "renderDirectory"
TEAM_NAMESPACES = "teamNamespaces"
