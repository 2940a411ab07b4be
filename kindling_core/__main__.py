"""``python -m kindling_core`` is the ``kindling`` command."""

from kindling_core.cli import main

main()
