"""`python3 -m symtui_sdk IMPLEMENTATION` is the same as `python3 -m symtui_sdk.run IMPLEMENTATION`."""

import sys

from symtui_sdk.run import main

sys.exit(main())
