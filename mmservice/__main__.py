import sys

from mmservice.cli import main

sys.exit(main())
