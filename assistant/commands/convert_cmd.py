from __future__ import annotations

from pathlib import Path

import click

QUANT_CHOICES = ["q8_0", "q6_k", "q5_k_m", "q5_k_s", "q5_0", "q4_k_m", "q4_k_s", "q4_0", "q3_k_m", "q2_k",
                 "f16", "bf16", "f32"]


@click.command()
@click.argument("src")
@click.option("-q", "--quant", type=click.Choice(QUANT_CHOICES, case_sensitive=False), default="q4_k_m",
              show_default=True, help="Quantization (llama.cpp's); f16/bf16/f32 keep it unquantized.")
@click.option("--outtype", type=click.Choice(["f16", "bf16", "f32"]), default=None,
              help="The unquantized GGUF's type [default: the checkpoint's own precision].")
@click.option("--name", default=None, help="Name in the model store [default: SRC's folder name + quant].")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write this .gguf file instead of adding to the store.")
@click.option("--no-verify", is_flag=True, help="Skip the checks against transformers (not recommended).")
@click.option("--template", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A Jinja chat template file to write instead of the checkpoint's.")
@click.option("-s", "--system", default=None, help="Default system prompt stored with the model.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Sampling default, repeatable: temperature, top_p, top_k, min_p, repeat_penalty, max_tokens.")
@click.option("--modelfile", is_flag=True, help="Also write an Ollama Modelfile beside the GGUF.")
@click.option("--force", is_flag=True, help="Replace an existing model of that name (or the --out file).")
@click.option("--base", default=None, metavar="NAME_OR_DIR",
              help="A LoRA adapter's base: a checkpoint folder, a Hub id in the HF cache, a store model or a .gguf "
                   "[default: the run's provenance.json, or adapter_config.json's base_model_name_or_path].")
@click.option("--adapter", "as_adapter", is_flag=True,
              help="Write a GGUF LoRA adapter over the base (stored too) instead of merging the adapter into it.")
def convert(src: str, quant: str, outtype: str | None, name: str | None, out: Path | None, no_verify: bool,
            template: Path | None, system: str | None, params: tuple[str, ...], modelfile: bool, force: bool,
            base: str | None, as_adapter: bool) -> None:
    """Convert a Hugging Face checkpoint to a verified, quantized GGUF in the store.

    \b
    SRC is a checkpoint folder (config.json, tokenizer, safetensors), a Hub id
    (org/name, needs the network), an f16/bf16/f32 .gguf to re-quantize, or a
    LoRA adapter folder (adapter_config.json: ours, peft, TRL, unsloth, axolotl),
    merged into its base or, with --adapter, written as a GGUF adapter.
    \b
    assistant convert ./lima-out/final --quant q4_k_m --name my-lima
    assistant convert model-f16.gguf --quant q8_0 --out model-q8_0.gguf
    assistant convert ./lora-run/final --adapter --quant q8_0
    """
    from convert.metadata import parse_params
    from convert.pipeline import ConvertOptions
    from convert.pipeline import convert as run

    opts = ConvertOptions(src=src, quant=quant.lower(), outtype=outtype, name=name, out=out, verify=not no_verify,
                          template=template, system=system, params=parse_params(params), modelfile=modelfile,
                          overwrite=force, base=base, adapter=as_adapter)
    result = run(opts, log=lambda line: click.echo(line, err=True))
    if result.verify is None and no_verify:
        click.echo("Not verified (--no-verify).", err=True)
    click.echo(str(result.path))
