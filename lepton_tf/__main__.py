"""`python -m lepton_tf` runs the `lepton` command."""

import sys

from lepton_tf.cli import main

sys.exit(main())
