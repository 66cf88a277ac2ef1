"""What every face (REST service, MCP server, dashboard) shares about the tasks it serves.

* :mod:`hpcopt.faces.schema` -- one derivation per task of its parameters' model (types,
  defaults, descriptions, which parameters are paths and in which role) and of its Result's
  shape, from the task's signature, docstring and return annotation;
* :mod:`hpcopt.faces.paths` -- file paths from clients confined to the data roots.

Faces hold no capability logic: they parse a request against these models, call the task
through :func:`hpcopt.store.runner.run_task` and hand back what it returned.
"""
