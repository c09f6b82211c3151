from chartship.cli import main

raise SystemExit(main())
