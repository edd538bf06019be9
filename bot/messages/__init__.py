"""The Jinja2 side: rendering, the message catalogue, validation and admin versions."""
