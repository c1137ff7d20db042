"""``python -m prime_fast`` runs the ``prime-fast`` command line."""

from prime_fast.cli import main

raise SystemExit(main())
