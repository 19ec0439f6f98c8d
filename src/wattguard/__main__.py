"""``python -m wattguard`` is the ``wattguard`` command."""

from wattguard.cli import main

raise SystemExit(main())
