"""Fixtures of the export tests (defined in :mod:`tests.helpers.export_models`)."""

from tests.helpers.export_models import audio_folder, checkpoint, frontend, model, model_factory, raw_windows, scene_audio, windows  # noqa: F401  (fixtures, found by name)
