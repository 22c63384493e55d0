"""`python -m coaching_contracts.asyncapi write|check`."""

import sys

from coaching_contracts.asyncapi import main

sys.exit(main())
