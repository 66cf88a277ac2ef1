"""hpcopt as an MCP server (the official ``mcp`` SDK, 2.x): tasks as tools, the store as resources.

* :func:`build_server` -- every registered task as one tool (input and output JSON schemas
  derived from the task's signature and result shape), runs, models, traces and reports as
  ``hpcopt://`` resources, operator workflows as prompts;
* :func:`serve_stdio` -- serve on stdin/stdout (what desktop clients launch);
* :func:`hpcopt.mcp.http.http_app` / :func:`hpcopt.mcp.http.serve_http` -- streamable HTTP
  behind a pluggable bearer-token check;
* :func:`hpcopt.mcp.tools.call_tool` -- a tool call as a plain function, without MCP.

The package is ``hpcopt.mcp``; inside it ``import mcp`` is the SDK (absolute imports).
"""

from __future__ import annotations

from hpcopt.mcp.server import build_server

__all__ = ["build_server", "serve_stdio"]


def serve_stdio(server=None, **build_kwargs) -> None:
    """Serve ``server`` (default: :func:`build_server` with ``build_kwargs``) on stdio until EOF."""
    (server or build_server(**build_kwargs)).run("stdio")
