from slo.cli import main

raise SystemExit(main())
