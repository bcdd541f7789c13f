"""``python -m headwater`` runs the command line."""

from headwater.cli import main

raise SystemExit(main())
