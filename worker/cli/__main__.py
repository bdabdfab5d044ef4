"""`python -m worker.cli`: the same command as `python -m worker` (worker.__main__)."""

from worker.__main__ import main

main()
