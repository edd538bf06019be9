"""The journey as pure flows: stages, dialogue states, events, decisions. No I/O here."""

from bot.flows.journey import decide
from bot.flows.policy import FlowPolicy

__all__ = ["FlowPolicy", "decide"]
