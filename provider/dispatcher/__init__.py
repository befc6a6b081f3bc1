"""The webhook dispatcher: delivers outbox events to webhooks, signed, in order, at least once."""

from provider.dispatcher.loop import Dispatcher, Settings

__all__ = ["Dispatcher", "Settings"]
