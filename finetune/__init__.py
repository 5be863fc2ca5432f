"""LIMA-style supervised fine-tuning in torch + transformers, with its own readable training loop.

    cli.py          the options shared by ``assistant finetune`` and ``python -m finetune`` (torchrun)
    run.py          a run: every cheap check, the tokenizer, the fit and the held-out split, then
                    ``--dry-run`` stops or :func:`finetune.train.train` runs
    prepared.py     what run.py hands train.py: RunArgs, Prepared, total_steps
    config.py       the typed recipe (FinetuneConfig): defaults, a YAML/TOML file, ``key=value``
    data.py         rows (LIMA, messages with tools, ShareGPT, alpaca) from a file or the Hub, validated
    hub.py          the Hub, online only: gated datasets and base models by id
    base.py         the base: a store name, a GGUF (dequantized once), a folder or a Hub id
    template.py     chat templates and label masks
    chat_jinja.py   the Jinja templates saved with the tokenizer (tools in the Hermes format)
    tool_data.py    TRL's tool format in rows: ``tools``, assistant ``tool_calls``, ``tool`` messages
    fit.py          every example fitted into ``max_length`` so what trains ends its turn
    batching.py     data order and token-budgeted micro-batches
    modeling.py     EOT rows, residual dropout, the loss at labelled positions only
    eot_init.py     the end-of-turn token's starting rows
    lora.py         method=lora/qlora through peft: the adapter plan (checked before weights load), the
                    adapters, the changed EOT rows as trainable_token_indices, adapter or merged export
    qlora.py        method=qlora's base: bitsandbytes NF4 (checked on the device first), norms in fp32
    model_setup.py  the model as the loop trains it, by method: base, token rows, EOT, adapters, dropout
    optim.py        AdamW and the linear LIMA schedule
    train.py        the loop, phase by phase: set-up, resume, step, end of epoch, summary
    distributed.py  one process, DDP or FSDP2 under torchrun (adapters: DDP)
    state.py        resumable state in RUN/state
    stopping.py, epoch_end.py  the held-out stop diagnostics and what each epoch's end writes
    evaluate.py     dev generations at each checkpoint
    checkpoint.py   the HF checkpoint ``assistant convert`` takes as is (peft's adapter files for adapters)
    provenance.py   each checkpoint's provenance.json (method, base, data, fit, EOT, adapter export)
    metrics.py      metrics.jsonl and loss.png
    estimate.py     device choice and the ``--dry-run`` time and memory estimates (per method)
    curate/         ``assistant data``: inspect a pool and select training rows
    errors.py       FinetuneError, an AssistantError (models.errors) with ``details``

Entry points: :func:`finetune.run.run` (what ``assistant finetune`` and ``python -m finetune``
call), :class:`finetune.config.FinetuneConfig` (the typed recipe), :class:`finetune.errors.FinetuneError`.
Imports ``models`` only. Nothing here is imported at ``assistant --help`` time but cli.py; torch and
transformers load inside functions.
"""

from finetune.errors import FinetuneError

__all__ = ["FinetuneError"]
