"""`python -m accelbench` is the `accelbench` command."""

from accelbench.cli import main

main()
