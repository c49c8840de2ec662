"""The built-in scene corpus's layout: names and defaults shared by its generator
(:mod:`catuvac.training.scenes`) and its readers (:mod:`catuvac.training.readers`), importable
without the generator's signal-processing stack."""

__all__ = ["DAYS_DIR", "DEFAULT_CLIPS_PER_CLASS", "DEFAULT_CLIP_SECONDS"]

# Test recordings (day.wav + day.json) live in DIR/days/, outside the class layout, so that
# `--data folder:DIR` on a corpus never trains on them.
DAYS_DIR = "days"
# Clips per class of the default corpus (7 × 40 clips of 4 s ≈ 19 min of audio, ~20 s to make).
DEFAULT_CLIPS_PER_CLASS = 40
# Clip length of the default corpus: one 4-s context window per clip, as the paper's US8K clips.
# Longer clips (``builtin:scenes?s=8``) give each clip several windows, neighbours for the
# temporal-consistency term (issue 11, section 4).
DEFAULT_CLIP_SECONDS = 4
