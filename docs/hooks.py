"""MkDocs hook: the command-line reference is generated from the Typer app at build time."""

from __future__ import annotations

MARKER = "<!-- cli-reference -->"


def _command_docs() -> str:
    import typer

    from hpcopt.cli import _register, app

    _register()
    root = typer.main.get_command(app)
    out: list[str] = []

    def walk(cmd, path: list[str]) -> None:
        import inspect

        sub = getattr(cmd, "commands", None)
        if path:
            out.append(f"{'#' * min(len(path) + 1, 4)} `hpcopt {' '.join(path)}`\n")
            if cmd.help:
                out.append(inspect.cleandoc(cmd.help).split("\n\n")[0] + "\n")
            rows = []
            for p in cmd.params:
                if getattr(p, "hidden", False) or p.name == "help":
                    continue
                names = ", ".join(f"`{o}`" for o in [*p.opts, *getattr(p, "secondary_opts", [])])
                default = "" if p.required or p.default in (None, False, [], ()) else f"`{p.default}`"
                text = (getattr(p, "help", None) or "").replace("|", "\\|").replace("\n", " ")
                rows.append(f"| {names} | {'yes' if p.required else ''} | {default} | {text} |")
            if rows:
                out.append("| option | required | default | meaning |\n|---|---|---|---|")
                out.extend(rows)
                out.append("")
        if sub:
            for name in sorted(sub):
                walk(sub[name], [*path, name])

    walk(root, [])
    return "\n".join(out)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 - MkDocs' signature
    if MARKER in markdown:
        return markdown.replace(MARKER, _command_docs())
    return markdown
