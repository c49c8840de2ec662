"""catuvac.firmware_sim – a simulated hearing-aid DSP chain whose profile the scene clusterer selects.

- :mod:`.plugins`   – ``Param``, ``StreamSpec``, ``Plugin``, ``Chain`` (openMHA-style plugin chain)
- :mod:`.dsp`       – WOLA filterbank, insertion gain, noise reduction, WDRC, limiter, ``default_chain``
- :mod:`.nalr`      – audiograms and the NAL-R prescription (fitting, separate from processing)
- :mod:`.profiles`  – profile files, cluster→profile map, cross-fading ``ProfileSwitcher``
- :mod:`.simulator` – ``HearingAidSimulator`` (DSP every block, clusterer at its cadence), ``simulate``
- :mod:`.plot`      – spectrogram / clusters / band-gain picture
"""

from .dsp import (
    DEFAULT_BAND_EDGES_HZ,
    FilterbankAnalysis,
    FilterbankSynthesis,
    InsertionGain,
    Limiter,
    NoiseReduction,
    Wdrc,
    default_chain,
    measure_delay_samples,
)
from .nalr import DEFAULT_AUDIOGRAM, Audiogram, AudiogramError, nalr_band_gains, nalr_gains
from .plugins import BandFrame, BandLayout, Chain, Param, ParamError, Plugin, PrepareError, StreamSpec
from .profiles import ClusterMap, Profile, ProfileError, ProfileSet, ProfileSwitcher, default_cluster_map, load_cluster_map
from .simulator import ClassifierUnavailable, HearingAidSimulator, SimulationResult, make_classifier, simulate

__all__ = [
    "DEFAULT_BAND_EDGES_HZ", "FilterbankAnalysis", "FilterbankSynthesis", "InsertionGain", "Limiter",
    "NoiseReduction", "Wdrc", "default_chain", "measure_delay_samples",
    "DEFAULT_AUDIOGRAM", "Audiogram", "AudiogramError", "nalr_band_gains", "nalr_gains",
    "BandFrame", "BandLayout", "Chain", "Param", "ParamError", "Plugin", "PrepareError", "StreamSpec",
    "ClusterMap", "Profile", "ProfileError", "ProfileSet", "ProfileSwitcher", "default_cluster_map", "load_cluster_map",
    "ClassifierUnavailable", "HearingAidSimulator", "SimulationResult", "make_classifier", "simulate",
]
