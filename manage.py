#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

Settings: the file MES_ENV_FILE names, or in a checkout where `make run` wrote it,
local.env; with neither (nor SECRET_KEY and DATABASE_URL in the environment) it refuses
and says how to give them (mes/command_start.py, docs/operations.md: "Settings").
"""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")
    from mes.command_start import prepare

    prepare(sys.argv)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
