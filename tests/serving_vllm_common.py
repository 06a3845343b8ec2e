"""Helpers shared by the vLLM drivers (run inside the vLLM venv, imported from tests/)."""


def count_preemptions() -> list[int]:
    """Wrap vLLM's ``Scheduler._preempt_request`` so every preemption is counted; returns the
    one-element counter list (read ``counter[0]``)."""
    from vllm.v1.core.sched import scheduler as sched

    preempted = [0]
    original = sched.Scheduler._preempt_request

    def counting(self, *args, **kwargs):
        preempted[0] += 1
        return original(self, *args, **kwargs)

    sched.Scheduler._preempt_request = counting
    return preempted
