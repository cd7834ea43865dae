"""ASGI entry point; settings as for WSGI (the file MES_ENV_FILE names, mes/wsgi.py)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mes.settings")

application = get_asgi_application()
