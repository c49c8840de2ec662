"""Fixtures of the training tests: the export tests' checkpoint and clip folder (for catuvac-clusters --checkpoint)."""

from tests.helpers.export_models import audio_folder, checkpoint, frontend, model, raw_windows, scene_audio, windows  # noqa: F401  (fixtures, found by name)
