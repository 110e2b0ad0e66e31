"""A small authoritative DNS server for tests (dnspython), serving one zone over UDP and TCP on
a free loopback port: `alumail dns check` and DKIM verification ask it, and no query leaves the
machine."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.zone


def answer(zone: dns.zone.Zone, wire: bytes) -> dns.message.Message:
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    question = query.question[0]
    assert zone.origin is not None  # serving() always names the zone's origin
    if not question.name.is_subdomain(zone.origin):
        response.set_rcode(dns.rcode.REFUSED)
        return response
    node = zone.get_node(question.name)
    if node is None:
        response.set_rcode(dns.rcode.NXDOMAIN)
        return response
    rdataset = node.get_rdataset(question.rdclass, question.rdtype)
    if rdataset is not None:
        response.answer.append(
            dns.rrset.from_rdata_list(question.name, rdataset.ttl, list(rdataset))
        )
    return response


@contextmanager
def serving(zone_text: str, origin: str) -> Iterator[int]:
    """Serve ``zone_text`` for ``origin`` on 127.0.0.1; yields the port."""
    zone = dns.zone.from_text(zone_text, origin=origin, relativize=False, check_origin=False)

    class Udp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            sock.sendto(answer(zone, data).to_wire(max_size=65535), self.client_address)

    class Tcp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            head = self.request.recv(2)
            if len(head) < 2:
                return
            (length,) = struct.unpack("!H", head)
            data = b""
            while len(data) < length:
                chunk = self.request.recv(length - len(data))
                if not chunk:
                    return
                data += chunk
            wire = answer(zone, data).to_wire()
            self.request.sendall(struct.pack("!H", len(wire)) + wire)

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    udp = socketserver.ThreadingUDPServer(("127.0.0.1", port), Udp)
    tcp = socketserver.ThreadingTCPServer(("127.0.0.1", port), Tcp)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (udp, tcp)]
    for thread in threads:
        thread.start()
    try:
        yield port
    finally:
        for server in (udp, tcp):
            server.shutdown()
            server.server_close()
