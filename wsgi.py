"""The one module-level app, for gunicorn and `flask --app wsgi`."""

from portal import create_app

app = create_app()
