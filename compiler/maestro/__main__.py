import sys

from maestro.cli import main

sys.exit(main())
