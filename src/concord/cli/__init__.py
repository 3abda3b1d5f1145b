"""The `concord` command line (Typer + Rich), one module per verb group."""
