from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


@click.group()
def models() -> None:
    """The models that --model accepts: the store and the bundled ones."""


@models.command("list")
def list_models() -> None:
    """Name, size, architecture, parameters, quant, context length; * marks the default."""
    from models.views import model_rows

    rows = model_rows()
    headers = ("NAME", "SIZE", "ARCH", "PARAMS", "QUANT", "CONTEXT", "SOURCE")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)))


@models.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest and GGUF metadata as one JSON object.")
@click.option("--template", "template_only", is_flag=True, help="Print only the chat template.")
def show(name: str, as_json: bool, template_only: bool) -> None:
    """The manifest plus the GGUF's template, special tokens, licence and sampling defaults."""
    from models.views import describe

    info = describe(name)
    if template_only:
        click.echo(info["template"] or "(this GGUF has no chat template; the fallback format is used)")
    elif as_json:
        click.echo(json.dumps(info, indent=2, ensure_ascii=False))
    else:
        click.echo(render(info))


def _section(title: str, rows: list[tuple[str, Any]]) -> list[str]:
    rows = [(k, v) for k, v in rows if v not in (None, "", [], {})]
    if not rows:
        return []
    width = max(len(k) for k, _ in rows)
    return ["", f"  {title}"] + [f"    {k.ljust(width)}  {v}" for k, v in rows]


def render(d: dict[str, Any]) -> str:
    """The text of `models show`, section by section, like `ollama show`."""
    from models.views import human_params, human_size

    m = d["model"]
    lines = [f"{d['name']}" + ("  (default)" if d["default"] else "")]
    lines += _section("Model", [
        ("architecture", m["architecture"]), ("name", m["name"]), ("parameters", human_params(m["parameters"])),
        ("quantization", m["quantization"]), ("context length", m["context_length"]),
        ("embedding length", m["embedding_length"]), ("layers", m["layers"]), ("vocabulary", m["vocab_size"]),
    ])
    ad = d.get("adapter")
    if ad:
        lines += _section("Adapter (LoRA, applied over the base below)", [
            ("path", ad["path"]), ("size", human_size(ad["size_bytes"])), ("sha256", ad["sha256"]),
            ("rank", ad.get("rank")), ("alpha", ad.get("alpha")), ("scale", ad.get("scale")),
            ("tensors", ad.get("outtype")), ("targets", len(ad.get("targets") or []) or None),
            ("base", f"{ad['base']} (sha256 {str(ad['base_sha256'])[:12]}...)"),
        ])
    lines += _section("File" if not ad else "Base", [
        ("source", d["source"]), ("path", d["path"]), ("linked to", d["linked_to"]),
        ("size", human_size(d["size_bytes"])), ("sha256", d["sha256"]),
    ])
    lines += _section("Tokens", [(k, v) for k, v in d["special_tokens"].items()]
                      + [("stops on", " ".join(d["end_of_turn"]))])
    defaults = dict(d["defaults"])
    system = defaults.pop("system", None)
    lines += _section("Parameters", [(k, v) for k, v in defaults.items()]
                      + [(f"{k} (gguf)", v) for k, v in d["gguf_sampling"].items()])
    if system:
        lines += ["", "  System", *[f"    {line}" for line in system.splitlines()]]
    prov = d["provenance"]
    lines += _section("Provenance", [(k, v if not isinstance(v, dict) else ", ".join(f"{a}={b}" for a, b in v.items()))
                                     for k, v in prov.items()])
    lines += _section("License", [("license", d["license"])])
    verify = d.get("verify")
    if verify:
        from convert.verify import lines as verify_lines

        verdict = "passed" if verify.get("passed", True) else "FAILED"
        lines += ["", f"  Verify ({verdict})", *[f"    {line}" for line in verify_lines(verify)]]
    lines += ["", f"  Template ({d['template_origin']})"]
    if d["template"]:
        lines += [f"    {line}" for line in d["template"].splitlines()]
    else:
        lines += ["    (none in the GGUF: the fallback User:/Assistant: format is used)"]
    return "\n".join(lines)


def _parse_params(pairs: tuple[str, ...]) -> dict[str, Any]:
    from assistant.session.chat import parse_param
    from models.errors import AssistantError
    from models.manifest import SamplingDefaults

    allowed = [f for f in SamplingDefaults.__dataclass_fields__ if f != "system"]
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise AssistantError(f"--param {pair!r} needs the form KEY=VALUE, e.g. --param temperature=0.7.")
        parsed_key, parsed = parse_param(key, value)
        if parsed_key not in allowed:
            raise AssistantError(f"--param {key} cannot be a model default; use one of {', '.join(allowed)}.")
        out[parsed_key] = parsed
    return out


@models.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Name in the store [default: from the file name].")
@click.option("--system", default=None, help="Default system prompt for this model.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Default sampling setting (temperature, top_p, top_k, min_p, repeat_penalty, max_tokens); repeatable.")
@click.option("--link", is_flag=True, help="Link to FILE instead of copying it (the file must stay where it is).")
@click.option("--force", is_flag=True, help="Replace a model of the same name.")
def import_model(file: Path, name: str | None, system: str | None, params: tuple[str, ...], link: bool, force: bool) -> None:
    """Add a GGUF file to the store (copied, or linked with --link)."""
    from models.errors import AssistantError
    from models.pull import default_name
    from models.store import Store

    if not file.exists():
        raise AssistantError(f"{file} does not exist; pass the path of a .gguf file.")
    defaults = _parse_params(params)
    if system is not None:
        defaults["system"] = system
    update: dict[str, Any] = {"provenance": {"source": "import", "original_path": str(file.resolve())}}
    if defaults:
        update["defaults"] = defaults
    model = Store().add(name or default_name(file.name), file, link=link, overwrite=force, update=update)
    how = "linked to" if link else "copied from"
    click.echo(f"Imported {model.name} ({how} {file}); `assistant chat -m {model.name}` uses it.")


@models.command("rm")
@click.argument("names", nargs=-1, required=True)
def rm(names: tuple[str, ...]) -> None:
    """Remove models from the store (a linked file itself is kept)."""
    from models import bundled
    from models.errors import AssistantError
    from models.store import Store

    store = Store()
    for name in names:
        if not store.has(name) and name in bundled.BUNDLED:
            raise AssistantError(f"{name} is bundled in the Python package {bundled.BUNDLED[name].package}, not in "
                                 f"the store; `pip uninstall {bundled.BUNDLED[name].package}` removes it.")
        model = store.get(name)
        linked_to = model.gguf_path.resolve() if model.gguf_path.is_symlink() else None
        store.remove(name)
        click.echo(f"Removed {name}" + (f" (the linked file {linked_to} is kept)." if linked_to else "."))


@models.command("default")
@click.argument("name", required=False)
def default(name: str | None) -> None:
    """Show the default model, or make NAME the default."""
    from models.resolve import default_model_name, resolve
    from models.store import read_config, write_config

    if name is None:
        click.echo(default_model_name())
        return
    resolved = resolve(name)
    if resolved.source == "path":
        from models.errors import AssistantError

        raise AssistantError(f"The default must be a model name; import the file first: "
                             f"`assistant models import {name} --name NAME`.")
    write_config({**read_config(), "default_model": resolved.name})
    click.echo(f"The default model is now {resolved.name}.")


@models.command("pull")
@click.argument("repo")
@click.option("--file", "file", default=None, help="Which .gguf file of the repository [default: the only one, or Q4_K_M].")
@click.option("--name", default=None, help="Name in the store [default: from the file name].")
@click.option("--revision", default=None, help="Branch, tag or commit [default: main].")
@click.option("--force", is_flag=True, help="Replace a model of the same name.")
def pull(repo: str, file: str | None, name: str | None, revision: str | None, force: bool) -> None:
    """Download a GGUF from the Hugging Face Hub (resumable; HF_ENDPOINT for a mirror)."""
    from models.pull import pull as do_pull

    model = do_pull(repo, file=file, name=name, revision=revision, overwrite=force)
    click.echo(f"Pulled {model.name} (sha256 {model.manifest.sha256[:12]}...); `assistant chat -m {model.name}` uses it.")


@models.command("modelfile")
@click.argument("name")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the Modelfile to this file [default: print it].")
def modelfile(name: str, out: Path | None) -> None:
    """An Ollama Modelfile for NAME: FROM its GGUF (plus ADAPTER for a LoRA adapter model), its stops and defaults."""
    from convert.modelfile import render as render_modelfile
    from models.atomic import atomic_open
    from models.views import describe

    d = describe(name)
    defaults = dict(d["defaults"])
    system = defaults.pop("system", None)
    text = render_modelfile(d["path"], stops=d["end_of_turn"], system=system, defaults=defaults,
                            context=d["model"]["context_length"], adapter=(d.get("adapter") or {}).get("path"))
    if out is None:
        click.echo(text, nl=False)
        return
    with atomic_open(out) as fh:
        fh.write(text)
    click.echo(f"Wrote {out} (`ollama create {name} -f {out}`).")
