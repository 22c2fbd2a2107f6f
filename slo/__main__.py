from triton_slo.cli import main

raise SystemExit(main())
