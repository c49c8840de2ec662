"""Helpers shared by test modules (imported as ``tests.helpers.*``; never collected as tests)."""
