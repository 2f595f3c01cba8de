#!/usr/bin/env python
"""Django's command-line utility for Stepwise."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # `config` lives in platform/ (a plain folder: a package named `platform` would hide the
    # standard library's module of that name and break `import uuid`, hence Django).
    sys.path.insert(0, str(Path(__file__).resolve().parent / "platform"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
