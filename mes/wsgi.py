"""WSGI entry point (gunicorn mes.wsgi).

Its settings come from the file MES_ENV_FILE names, read by mes/settings.py as every
process reads it (variables already in the environment win), never from a checkout's
local.env: a server without them refuses to start.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")

application = get_wsgi_application()
