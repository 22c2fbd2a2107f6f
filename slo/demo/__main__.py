"""`python -m slo.demo`."""

import sys

from slo.demo import main

sys.exit(main())
