"""Samplers: locally constrained decoding (LCD), adaptive weighted rejection sampling (AWRS) and
AWRS-SMC, over any model behind the `LanguageModel` protocol and any constraint's `Matcher`.

Main entry points: `sample` (protocol models, e.g. toy models or `HFModel`) and `generate`
(transformers model + tokenizer + prompt -> text). Importing this package does not import torch;
`HFModel` does when instantiated.
"""

from .api import SampleResult, Unconstrained, generate, sample
from .awrs import AWRSConfig, awrs_step
from .lcd import lcd_step
from .lm import HFModel, LanguageModel
from .smc import SamplingStats, ess, resample_indices, run_particles

__all__ = [
    "sample", "generate", "SampleResult", "SamplingStats", "HFModel", "LanguageModel",
    "AWRSConfig", "awrs_step", "lcd_step", "run_particles", "resample_indices", "ess",
    "Unconstrained",
]
