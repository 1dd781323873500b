"""`python -m loyalty`: the `loyalty` command, for a child process of the same interpreter (the demo's worker)."""

from loyalty.cli import main

main()
