"""The agents: who may work the human path, from which phones, on which queues.

One roster serves the whole folder of menus (``menus/agents.yaml``). Picture the
staff list pinned by the switchboard: each agent's name, the phones they ring in
from (a mobile, a desk phone, a SIP address or a Twilio Client softphone, which
Twilio reports as the call's ``From``), and the queues they answer, in their order
of preference. Agents ring one of the roster's ``numbers`` (the *agent line*) to
start work; the line recognises them by ``From``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ROSTER_FILE", "Agent", "Roster"]

ROSTER_FILE = "agents.yaml"


@dataclass(frozen=True)
class Agent:
    """One agent: id, name, phones they call from, (menu, queue) pairs served."""

    id: str
    name: str
    phones: tuple[str, ...]
    serves: tuple[tuple[str, str], ...]
    line: int = 0


@dataclass(frozen=True)
class Roster:
    """The agent line's numbers and the agents who may call it."""

    path: str
    numbers: tuple[str, ...] = ()
    agents: tuple[Agent, ...] = ()

    def agent_for(self, phone: str) -> Agent | None:
        """The agent calling from ``phone`` (the call's ``From``), or None."""
        phone = phone.strip()
        for agent in self.agents:
            if phone in agent.phones:
                return agent
        return None

    def agent(self, agent_id: str) -> Agent | None:
        return next((a for a in self.agents if a.id == agent_id), None)

    def serving(self, menu: str, queue: str) -> tuple[Agent, ...]:
        """The agents who answer ``queue`` of ``menu``."""
        return tuple(a for a in self.agents if (menu, queue) in a.serves)
