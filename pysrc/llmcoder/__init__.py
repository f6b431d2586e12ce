"""llmcoder: hybrid LLM coding of text corpora for the social sciences.

The model is another coder: LLMs propose labels, people verify them by rejection, small models are
fine-tuned on the verified labels, and every coder (human or machine) is validated the same way.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("llmcoder")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
