"""``python -m segctl`` (also what ``torchrun -m segctl segment train ...`` runs)."""
import sys

from .cli.main import main

sys.exit(main())
