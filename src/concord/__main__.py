"""`python -m concord` is the `concord` command."""

from concord.cli.main import main

main()
