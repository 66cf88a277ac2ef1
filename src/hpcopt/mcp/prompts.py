"""Operator workflows as MCP prompts: the question, the steps, and the tools that do them.

Each prompt is a plain function of its arguments and of the tools the server offers
(``{tool name: one-line summary}``), returning the text of the user message. The text
names the tools of the capability concerned as they are registered now, so it never
points at a tool that does not exist; a workflow whose capability has no task at all says
so instead of inventing steps. :data:`PROMPTS` lists them with the task-name prefix they
need; the checkpoint prompt appears once a ``resilience`` task is registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["PromptSpec", "PROMPTS", "available"]

Tools = dict[str, str]  # tool name -> summary, as the server lists them


def _tools(tools: Tools, prefix: str) -> str:
    mine = {n: s for n, s in sorted(tools.items()) if n.startswith(prefix.replace(".", "_"))}
    if not mine:
        return f"(no {prefix.rstrip('.')} tool is available on this server yet: say so and stop)"
    return "\n".join(f"- {n}: {s}" for n, s in mine.items())


_COMMON = ("Every tool call is recorded as a run; cite the run_id from each result's provenance, and read "
           "hpcopt://runs/{run_id} or hpcopt://reports/{run_id} for details. Report numbers with their units and "
           "say which run they come from; do not guess values a tool did not return.")


def queue_slow(tools: Tools, trace: str, policies: str = "") -> str:
    extra = f" Include these policies in the comparison: {policies}." if policies else ""
    return (f"Why is the queue slow in the workload trace {trace}?\n\n"
            "1. Simulate the trace under the site's current policy and look at the wait-time and slowdown figures, "
            "utilisation and the jobs that waited longest.\n"
            f"2. Compare the policies the scheduling tools offer on the same trace.{extra}\n"
            "3. Explain what drives the waits (load above capacity, wide jobs blocking, backfilling that cannot "
            "use inaccurate runtime requests) from the numbers, and which change would help most.\n\n"
            f"Scheduling tools:\n{_tools(tools, 'schedule.')}\n\n{_COMMON}")


def policy_change(tools: Tools, trace: str, proposed_policy: str, current_policy: str = "") -> str:
    cur = current_policy or "the current (default) policy"
    return (f"What would switching from {cur} to {proposed_policy} do to wait times on the trace {trace}?\n\n"
            "1. Simulate or compare both policies on the same trace with the same seed.\n"
            "2. Report the mean and percentile waits, the bounded slowdown and the utilisation for both, and the "
            "difference, with the run ids.\n"
            "3. If a runtime model is registered (hpcopt://models), also run the proposed policy with its "
            "predictions and say whether better estimates change the picture.\n\n"
            f"Scheduling tools:\n{_tools(tools, 'schedule.')}\nEstimation tools:\n{_tools(tools, 'estimate.')}\n\n"
            f"{_COMMON}")


def node_anomaly(tools: Tools, telemetry: str, node: str = "") -> str:
    who = f" of node {node}" if node else ""
    return (f"Investigate the anomaly in the telemetry{who} at {telemetry}.\n\n"
            "1. Run anomaly detection on the series and list the anomalous windows with their scores.\n"
            "2. For the strongest windows, name the metrics that drive them (the culprits).\n"
            "3. Say what the pattern suggests (a memory leak, a hung process, thermal throttling, network "
            "contention) and what an operator should check first.\n\n"
            f"Detection tools:\n{_tools(tools, 'detect.')}\n\n{_COMMON}")


def tune_kernel(tools: Tools, target: str, budget: str = "") -> str:
    lim = f" within a budget of {budget} evaluations" if budget else ""
    return (f"Tune the kernel described by {target}{lim}.\n\n"
            "1. Run (or replay from its cache) a tuning study with the default strategy, then with one more "
            "strategy, on the same seed.\n"
            "2. Report the best configuration, its measured time against the default or baseline configuration, "
            "and how many evaluations each strategy needed; failed configurations count.\n"
            "3. Recommend the configuration to use and say how sure the measurements make you.\n\n"
            f"Tuning tools:\n{_tools(tools, 'tune.')}\n\n{_COMMON}")


def checkpoint_interval(tools: Tools, job: str) -> str:
    return (f"How often should the job {job} checkpoint?\n\n"
            "1. Estimate the job's failure rate and its checkpoint cost with the resilience tools.\n"
            "2. Give the recommended interval, the expected lost work with and without it, and the assumptions.\n\n"
            f"Resilience tools:\n{_tools(tools, 'resilience.')}\n\n{_COMMON}")


@dataclass(frozen=True)
class PromptSpec:
    name: str
    title: str
    description: str
    fn: Callable[..., str]
    #: the prompt is offered when a task of this capability is registered (None: always)
    needs: str | None = None


PROMPTS: tuple[PromptSpec, ...] = (
    PromptSpec("queue_slow", "Why is my queue slow?",
               "Diagnose long queue waits in a workload trace by simulating and comparing scheduling policies.",
               queue_slow),
    PromptSpec("policy_change", "What would this policy change do to wait times?",
               "Compare the current and a proposed scheduling policy on one trace: waits, slowdown, utilisation.",
               policy_change),
    PromptSpec("node_anomaly", "Investigate this node's anomaly",
               "Find the anomalous windows in a node's telemetry and the metrics behind them.", node_anomaly),
    PromptSpec("tune_kernel", "Tune this kernel",
               "Tune a kernel's parameters (or replay a tuning cache) and recommend a configuration.", tune_kernel),
    PromptSpec("checkpoint_interval", "How often should this job checkpoint?",
               "Recommend a checkpoint interval for a job from its failure rate and checkpoint cost.",
               checkpoint_interval, needs="resilience."),
)


def available(task_names: list[str]) -> list[PromptSpec]:
    """The prompts to offer given the registered task names."""
    return [p for p in PROMPTS if p.needs is None or any(t.startswith(p.needs) for t in task_names)]
