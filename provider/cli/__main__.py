"""`python -m provider.cli`: the same as the `provider` command."""

from provider.cli import main

main()
