"""LIMA-style supervised fine-tuning in torch + transformers, with its own readable training loop.

Entry points: :func:`finetune.run.run` (what ``assistant finetune`` and ``python -m finetune``
call), :class:`finetune.config.FinetuneConfig` (the typed recipe), :class:`finetune.errors.FinetuneError`.
Nothing here is imported at ``assistant --help`` time; torch and transformers load inside functions.
"""

from finetune.errors import FinetuneError

__all__ = ["FinetuneError"]
