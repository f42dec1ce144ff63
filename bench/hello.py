"""The baseline: a hello-world Flask app on the same gunicorn config."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    """The cheapest possible page."""
    return "Hello, world!"
