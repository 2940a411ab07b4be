"""Example kindling projects."""
