"""Run the benchmark: `python -m bench` or `make bench`."""

import sys

from bench.run import main

sys.exit(main())
