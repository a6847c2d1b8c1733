"""`python -m modelstore`: see modelstore.cli."""

from modelstore.cli import main

raise SystemExit(main())
