"""``python -m finetune ...`` and ``torchrun --nproc_per_node N -m finetune ...``."""

from finetune.cli import main

if __name__ == "__main__":
    main(prog_name="python -m finetune")
