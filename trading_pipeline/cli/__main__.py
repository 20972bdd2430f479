"""``python -m trading_pipeline.cli``: the ``trading-pipeline`` command."""

import sys

from trading_pipeline.cli import main

sys.exit(main())
