"""The daemons' configuration templates (Jinja2), shipped as package data: read them through
``importlib.resources.files("configs")`` (mailstack.templates), never through a path relative to
the checkout."""
