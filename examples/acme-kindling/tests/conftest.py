# tests/conftest.py
pytest_plugins = ["kindling_core.testing.pytest_plugin"]  # kindling_app_factory, recording_error_handler
