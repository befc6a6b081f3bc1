"""Bumble's in-process radio, with the two fixes our tests and the agent need.

Bumble ships a software controller (`bumble.controller.Controller`) and a
`LocalLink` bus that carries link-layer PDUs between controllers in one asyncio
loop.  Two things in it get in our way:

* `LE Create Connection Cancel` is acknowledged but does nothing, so a host
  that times out while connecting to a lock that is not advertising waits for
  a connection-complete event that never comes (a hang).  `VirtualController`
  implements the cancel the way the Core specification says (Vol 4, Part E,
  7.8.13): the pending connection is dropped and an LE Connection Complete event
  with status "Unknown Connection Identifier" is sent to the host.
* Every advertising PDU is delivered to every controller on the link, locks
  included; with 50 virtual locks advertising that is thousands of useless
  callbacks per second.  `VirtualLink` delivers advertising PDUs only to the
  controllers that can use them (those scanning or initiating a connection);
  connection requests and data still go everywhere, as before.
"""

from __future__ import annotations

import asyncio

from bumble import hci, ll
from bumble.controller import Controller
from bumble.link import LocalLink


class VirtualController(Controller):
    """Bumble's software controller with a working connection cancel."""

    def on_hci_le_create_connection_cancel_command(
        self, _command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        # The command complete goes first, then the (failed) connection complete.
        asyncio.get_running_loop().call_soon(
            self.send_hci_packet,
            hci.HCI_LE_Connection_Complete_Event(
                status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                connection_handle=0,
                role=hci.Role.CENTRAL,
                peer_address_type=pending.peer_address.address_type,
                peer_address=pending.peer_address,
                connection_interval=0,
                peripheral_latency=0,
                supervision_timeout=0,
                central_clock_accuracy=0,
            ),
        )
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)


class VirtualLink(LocalLink):
    """A `LocalLink` that sends advertisements only to controllers listening for them."""

    def send_advertising_pdu(
        self, sender_controller: Controller, packet: ll.AdvertisingPdu
    ) -> None:
        if not isinstance(packet, (ll.AdvInd, ll.AdvExtInd)):
            super().send_advertising_pdu(sender_controller, packet)
            return
        loop = asyncio.get_running_loop()
        for controller in self.controllers:
            if controller is sender_controller:
                continue
            if controller.le_scan_enable or controller.pending_le_connection is not None:
                loop.call_soon(controller.on_ll_advertising_pdu, packet)
