"""kindling-core's built-in plugins (importable as ``kindling_plugins``).

They register through the ``kindling`` entry-point group exactly as a third-party plugin
would (see ``[project.entry-points.kindling]`` in ``pyproject.toml``), so everything a
company plugin can do, these do the same way, and each can be disabled by id.
"""
