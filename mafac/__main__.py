import sys

from mafac.cli import main

sys.exit(main())
