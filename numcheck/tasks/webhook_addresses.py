"""Where a webhook may go: an http(s) URL whose host resolves only to public addresses.

The rule is applied when a task is created, so a bad callback_url is refused at once, and again
at every attempt on the addresses that attempt then connects to (webhook_transport pins the
connection to them): a name that resolves elsewhere a moment later (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from numcheck import errors

MAX_URL_CHARS = 2000
DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 forms whose packets end up at an IPv4 address they carry in their last 32 bits.
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated, still routed by some stacks
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
# RFC 8215 local-use NAT64: the IPv4 address may sit at several places (prefix lengths 48 to 96);
# only the /96 form, with everything between prefix and address zero, can be read for sure.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
_LOCAL_NAT64_AS_96 = ipaddress.IPv6Network("64:ff9b:1::/96")


@dataclass(frozen=True)
class CallbackTarget:
    """A callback URL taken apart as the HTTP client will use it."""

    url: str
    host: str  # ASCII (IDNA) name or address literal, as the client would resolve it
    port: int


def parse(url: str) -> CallbackTarget:
    """The URL's target if it is a well-formed http(s) URL without credentials.

    Two parsers read it (the standard library's and the HTTP client's): a URL they read
    differently is refused, so the host checked is always the host the client would contact.
    """
    if len(url) > MAX_URL_CHARS:
        raise errors.InvalidCallbackUrl(f"callback_url is longer than {MAX_URL_CHARS} characters.")
    try:
        parts = urlsplit(url)
        # .hostname and .port raise ValueError for a port out of range or not a number, and
        # urlsplit itself for unbalanced IPv6 brackets.
        split = (parts.scheme, parts.hostname, parts.port)
        client = httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        raise errors.InvalidCallbackUrl(
            "callback_url is not a well-formed URL (check its host and port)."
        ) from None
    scheme, host, port = split
    if scheme not in DEFAULT_PORTS or not host:
        raise errors.InvalidCallbackUrl("callback_url must be an http:// or https:// URL.")
    if parts.username is not None or parts.password is not None or client.userinfo:
        raise errors.InvalidCallbackUrl("callback_url must not carry credentials.")
    port = DEFAULT_PORTS[scheme] if port is None else port
    as_the_client_reads_it = (client.scheme, client.host, client.port or DEFAULT_PORTS[scheme])
    if port == 0 or as_the_client_reads_it != (scheme, host, port):
        raise errors.InvalidCallbackUrl(
            "callback_url is not a well-formed URL (check its host and port)."
        )
    return CallbackTarget(url=url, host=client.raw_host.decode("ascii"), port=port)


def resolve(target: CallbackTarget) -> list[str]:
    """The target's addresses, each once, in the resolver's order."""
    try:
        infos = socket.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        raise errors.InvalidCallbackUrl("callback_url's host does not resolve.") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise errors.InvalidCallbackUrl("callback_url's host does not resolve.")
    return addresses


def checked_addresses(target: CallbackTarget, allow_private: bool) -> list[str]:
    """Resolve the target once and return its addresses if every one of them may be contacted:
    connect only to these (a second resolution could answer differently)."""
    addresses = resolve(target)
    if not allow_private and not all(is_public(_ip(address)) for address in addresses):
        raise errors.InvalidCallbackUrl(
            "callback_url resolves to a private, loopback or link-local address."
        )
    return addresses


def is_public(address: IPAddress) -> bool:
    """Whether `address` is a public unicast address. IPv6 forms that carry an IPv4 address
    (IPv4-mapped, IPv4-compatible, 6to4, NAT64) are judged by that IPv4 address, since that is
    where their packets go."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = _carried_ipv4(address)
        if carried is not None:
            return is_public(carried)
        if address in _LOCAL_NAT64:  # a local NAT64 form we cannot read for sure
            return False
    return address.is_global and not address.is_multicast


def _carried_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in (_IPV4_COMPATIBLE, _NAT64, _LOCAL_NAT64_AS_96)):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _ip(address: str) -> IPAddress:
    return ipaddress.ip_address(address.split("%")[0])  # a link-local address's zone goes
