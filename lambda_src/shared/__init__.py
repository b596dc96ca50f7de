"""Code shared by every deployment handler; zipped into each function beside handler.py."""
