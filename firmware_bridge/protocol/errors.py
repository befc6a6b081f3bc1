"""The protocol package's errors: one base, local vs remote.

``LocalProtocolError``: we were asked to do something the protocol forbids
(send before the handshake, a PIN of three digits, a frame too large).
``RemoteProtocolError``: the peer (or someone on the air) sent something we
reject. Each error carries the :class:`ErrorCode` a lock would answer with.
"""

from __future__ import annotations

from .const import ErrorCode


class ProtocolError(Exception):
    """Base of every error raised by :mod:`firmware_bridge.protocol`."""

    error_code: ErrorCode = ErrorCode.MALFORMED

    def __init__(self, message: str, error_code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if error_code is not None:
            self.error_code = error_code


class LocalProtocolError(ProtocolError):
    """We tried to do something the protocol (or the current state) forbids."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something invalid. The offending frame is discarded."""


class MalformedMessageError(RemoteProtocolError):
    """An authenticated frame did not decode into a valid message.

    ``request_id`` and ``opcode`` are set when a request's header could be read,
    so that the lock can still answer with an ErrorResponse.
    """

    request_id: int | None = None
    opcode: int | None = None


class AuthenticationError(RemoteProtocolError):
    """The handshake failed: wrong device key, or the peer refused ours."""

    error_code = ErrorCode.AUTH_FAILED


class NotAuthenticatedError(RemoteProtocolError):
    """A secure frame arrived without a session (or the lock says we have none)."""

    error_code = ErrorCode.NOT_AUTHENTICATED


class IntegrityError(RemoteProtocolError):
    """AEAD verification failed: tampered, truncated or from another session."""

    error_code = ErrorCode.NOT_AUTHENTICATED


class ReplayError(RemoteProtocolError):
    """The frame's counter is not above the last accepted one (replay or reorder)."""

    error_code = ErrorCode.NOT_AUTHENTICATED


class UnsupportedVersionError(RemoteProtocolError):
    """The peer speaks a protocol version we do not."""

    error_code = ErrorCode.UNSUPPORTED_VERSION


class LockBusyError(RemoteProtocolError):
    """The lock refused a HELLO while backing off after failed handshakes; try later."""

    error_code = ErrorCode.BUSY
