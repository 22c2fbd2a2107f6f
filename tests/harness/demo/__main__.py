"""`python -m harness.demo`."""

import sys

from harness.demo import main

sys.exit(main())
