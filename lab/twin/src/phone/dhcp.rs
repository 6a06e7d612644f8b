//! The phone's DHCP client (N6): DISCOVER, OFFER, REQUEST, ACK (RFC 2131) on the bench's
//! interface, from port 68 to port 67, broadcast both ways (the flag is set: the phone has
//! no address to receive a unicast answer on). Its broadcasts leave from source address
//! 0.0.0.0 (RFC 2131 4.1), which neither a UDP socket nor a raw IP socket sends while the
//! host has any address (the kernel fills a zero source in): they are written as whole
//! IPv4 packets on a packet socket of the interface, to the Ethernet broadcast address. From the ACK it takes its address and
//! netmask, and option 66: the provisioning URL (P1) and the recovery TFTP server's host
//! (V2). A bench without a DHCP interface keeps the lab file's static address and option
//! 66, after the DHCP delay of the timing table, and sends nothing.
//!
//! Not modelled: renewal (T1/T2; the lab's leases outlive a test), DECLINE after an ARP
//! probe, NAK handling beyond starting over, options other than 1, 51, 53, 54 and 66.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use rand::Rng;
use socket2::{Domain, Protocol, Socket, Type};
use thiserror::Error;
use tokio::net::UdpSocket;

use super::shared::Shared;
use super::timing::DHCP_S;

const CLIENT_PORT: u16 = 68;
const SERVER_PORT: u16 = 67;
const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
const BOOTREQUEST: u8 = 1;
const BOOTREPLY: u8 = 2;
const ETHERNET: u8 = 1;
const BROADCAST_FLAG: u16 = 0x8000;

const OPTION_PAD: u8 = 0;
const OPTION_SUBNET_MASK: u8 = 1;
const OPTION_REQUESTED_IP: u8 = 50;
const OPTION_LEASE_TIME: u8 = 51;
const OPTION_MESSAGE_TYPE: u8 = 53;
const OPTION_SERVER_ID: u8 = 54;
const OPTION_PARAMETER_LIST: u8 = 55;
const OPTION_VENDOR_CLASS: u8 = 60;
const OPTION_TFTP_SERVER: u8 = 66;
const OPTION_END: u8 = 255;

/// The options the phone asks for: mask, router, DNS, domain, NTP, vendor info, option 66.
const PARAMETERS: [u8; 7] = [1, 3, 6, 15, 42, 43, 66];
/// Option 60 of a Yealink phone (ASSUMED: the vendor class the guides match on).
const VENDOR_CLASS: &[u8] = b"yealink";

/// DHCP message types (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// 1
    Discover,
    /// 2
    Offer,
    /// 3
    Request,
    /// 5
    Ack,
    /// 6
    Nak,
}

impl MessageType {
    fn code(self) -> u8 {
        match self {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
        }
    }

    fn from_code(code: u8) -> Option<MessageType> {
        Some(match code {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            _ => return None,
        })
    }
}

/// What the phone keeps of an ACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// `yiaddr`.
    pub address: Ipv4Addr,
    /// Option 1; `/24` when the server sends none (ASSUMED).
    pub netmask: Ipv4Addr,
    /// Option 54.
    pub server: Ipv4Addr,
    /// Option 51, seconds.
    pub lease_s: Option<u32>,
    /// Option 66 as text; `None` when the server sends none.
    pub option_66: Option<String>,
}

/// A server reply, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Option 53.
    pub kind: MessageType,
    /// The transaction it answers.
    pub xid: u32,
    /// The client's hardware address it is for.
    pub chaddr: [u8; 6],
    /// The lease it offers or grants (for a NAK, `address` is 0.0.0.0).
    pub lease: Lease,
}

/// Why a DHCP exchange did not give the phone an address.
#[derive(Debug, Error)]
pub enum DhcpError {
    /// The socket on the interface could not be made.
    #[error(
        "DHCP socket on interface {interface}: {source} (the interface must exist in the \
         phone's network namespace, and binding to it needs CAP_NET_RAW)"
    )]
    Socket {
        /// The interface.
        interface: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The address could not be put on the interface.
    #[error("cannot put {address} on interface {interface}: {reason}")]
    Configure {
        /// The interface.
        interface: String,
        /// The leased address.
        address: Ipv4Addr,
        /// What `ip` said.
        reason: String,
    },
}

/// Builds a client message: DISCOVER (no `request`) or REQUEST for `(address, server)`.
pub fn client_message(
    kind: MessageType,
    xid: u32,
    mac: [u8; 6],
    request: Option<(Ipv4Addr, Ipv4Addr)>,
) -> Vec<u8> {
    let mut packet = vec![0u8; 236];
    packet[0] = BOOTREQUEST;
    packet[1] = ETHERNET;
    packet[2] = 6;
    packet[4..8].copy_from_slice(&xid.to_be_bytes());
    packet[10..12].copy_from_slice(&BROADCAST_FLAG.to_be_bytes());
    packet[28..34].copy_from_slice(&mac);
    packet.extend_from_slice(&MAGIC_COOKIE);
    packet.extend_from_slice(&[OPTION_MESSAGE_TYPE, 1, kind.code()]);
    if let Some((address, server)) = request {
        packet.extend_from_slice(&[OPTION_REQUESTED_IP, 4]);
        packet.extend_from_slice(&address.octets());
        packet.extend_from_slice(&[OPTION_SERVER_ID, 4]);
        packet.extend_from_slice(&server.octets());
    }
    packet.extend_from_slice(&[OPTION_VENDOR_CLASS, VENDOR_CLASS.len() as u8]);
    packet.extend_from_slice(VENDOR_CLASS);
    packet.extend_from_slice(&[OPTION_PARAMETER_LIST, PARAMETERS.len() as u8]);
    packet.extend_from_slice(&PARAMETERS);
    packet.push(OPTION_END);
    // Some servers and relays drop BOOTP messages shorter than 300 bytes (RFC 1542).
    packet.resize(packet.len().max(300), OPTION_PAD);
    packet
}

/// Parses a server reply; `None` for anything else (a request, a truncated packet, no magic
/// cookie, no or an unknown message type, an option running past the end).
pub fn parse_reply(packet: &[u8]) -> Option<Reply> {
    if packet.len() < 240 || packet[0] != BOOTREPLY || packet[236..240] != MAGIC_COOKIE {
        return None;
    }
    if packet[1] != ETHERNET || packet[2] != 6 {
        return None;
    }
    let xid = u32::from_be_bytes(packet[4..8].try_into().ok()?);
    let address = Ipv4Addr::from(<[u8; 4]>::try_from(&packet[16..20]).ok()?);
    let chaddr: [u8; 6] = packet[28..34].try_into().ok()?;
    let mut kind = None;
    let mut netmask = None;
    let mut server = None;
    let mut lease_s = None;
    let mut option_66 = None;
    let mut at = 240;
    while at < packet.len() {
        let code = packet[at];
        if code == OPTION_PAD {
            at += 1;
            continue;
        }
        if code == OPTION_END {
            break;
        }
        let len = usize::from(*packet.get(at + 1)?);
        let value = packet.get(at + 2..at + 2 + len)?;
        let four = || <[u8; 4]>::try_from(value).ok();
        match code {
            OPTION_MESSAGE_TYPE if len == 1 => kind = MessageType::from_code(value[0]),
            OPTION_SUBNET_MASK => netmask = four().map(Ipv4Addr::from),
            OPTION_SERVER_ID => server = four().map(Ipv4Addr::from),
            OPTION_LEASE_TIME => lease_s = four().map(u32::from_be_bytes),
            OPTION_TFTP_SERVER => {
                // A string option; some servers send a terminating NUL.
                let text = String::from_utf8_lossy(value);
                option_66 = Some(text.trim_end_matches('\0').to_owned());
            }
            _ => {}
        }
        at += 2 + len;
    }
    let kind = kind?;
    if !matches!(
        kind,
        MessageType::Offer | MessageType::Ack | MessageType::Nak
    ) {
        return None;
    }
    Some(Reply {
        kind,
        xid,
        chaddr,
        lease: Lease {
            address,
            netmask: netmask.unwrap_or(Ipv4Addr::new(255, 255, 255, 0)),
            server: server.unwrap_or(Ipv4Addr::UNSPECIFIED),
            lease_s,
            option_66,
        },
    })
}

/// The phone's two sockets on `interface`: UDP port 68 to receive (several phones of one
/// namespace each bind port 68 on their own interface), and a packet socket to send.
struct ClientSockets {
    receive: UdpSocket,
    send: PacketSocket,
}

/// An `AF_PACKET` datagram socket sending IPv4 packets to the Ethernet broadcast address of
/// one interface (the kernel adds the Ethernet header). It is never read.
struct PacketSocket {
    fd: std::os::fd::OwnedFd,
    ifindex: i32,
}

impl PacketSocket {
    fn open(interface: &str) -> std::io::Result<PacketSocket> {
        let name = std::ffi::CString::new(interface)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: `name` is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: plain socket(2); the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                i32::from((libc::ETH_P_IP as u16).to_be()),
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new socket nothing else owns.
        let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        Ok(PacketSocket {
            fd,
            ifindex: i32::try_from(ifindex).map_err(|_| std::io::ErrorKind::InvalidInput)?,
        })
    }

    fn broadcast(&self, packet: &[u8]) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: an all-zero sockaddr_ll is valid; the fields that matter are set below.
        let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_protocol = (libc::ETH_P_IP as u16).to_be();
        to.sll_ifindex = self.ifindex;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        // SAFETY: `packet` and `to` outlive the call, and the lengths are theirs.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                std::ptr::addr_of!(to).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

fn client_sockets(interface: &str) -> Result<ClientSockets, DhcpError> {
    let made = || -> std::io::Result<ClientSockets> {
        let receive = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        receive.set_reuse_address(true)?;
        receive.bind_device(Some(interface.as_bytes()))?;
        receive.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, CLIENT_PORT)).into())?;
        receive.set_nonblocking(true)?;
        Ok(ClientSockets {
            receive: UdpSocket::from_std(receive.into())?,
            send: PacketSocket::open(interface)?,
        })
    };
    made().map_err(|source| DhcpError::Socket {
        interface: interface.to_owned(),
        source,
    })
}

/// `message` as a UDP datagram from 0.0.0.0:68 to 255.255.255.255:67, in an IPv4 packet.
pub fn broadcast_packet(message: &[u8]) -> Vec<u8> {
    let udp_len = u16::try_from(8 + message.len()).expect("a DHCP message fits a datagram");
    let total = 20 + udp_len;
    let mut packet = Vec::with_capacity(usize::from(total));
    packet.extend_from_slice(&[0x45, 0]);
    packet.extend_from_slice(&total.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
    packet.extend_from_slice(&Ipv4Addr::UNSPECIFIED.octets());
    packet.extend_from_slice(&Ipv4Addr::BROADCAST.octets());
    let header = ipv4_header_checksum(&packet[..20]);
    packet[10..12].copy_from_slice(&header.to_be_bytes());
    packet.extend_from_slice(&CLIENT_PORT.to_be_bytes());
    packet.extend_from_slice(&SERVER_PORT.to_be_bytes());
    packet.extend_from_slice(&udp_len.to_be_bytes());
    packet.extend_from_slice(&[0, 0]);
    packet.extend_from_slice(message);
    let checksum = udp_checksum(&packet[12..20], &packet[20..]);
    packet[26..28].copy_from_slice(&checksum.to_be_bytes());
    packet
}

/// RFC 791: the ones' complement of the ones' complement sum of the header's words.
fn ipv4_header_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// RFC 768: the ones' complement sum over the pseudo-header (addresses, protocol, length)
/// and the datagram; 0 is sent as 0xffff.
fn udp_checksum(addresses: &[u8], datagram: &[u8]) -> u16 {
    let mut sum: u32 = 17 + datagram.len() as u32;
    for chunk in addresses.chunks(2).chain(datagram.chunks(2)) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    match !(sum as u16) {
        0 => 0xffff,
        checksum => checksum,
    }
}

/// Sends `message` and waits up to `wait` for a reply of one of `kinds` to `xid`; other
/// packets (other phones' replies on the same segment, garbage) are ignored.
async fn exchange(
    sockets: &ClientSockets,
    message: &[u8],
    xid: u32,
    mac: [u8; 6],
    kinds: &[MessageType],
    wait: Duration,
) -> std::io::Result<Option<Reply>> {
    // One datagram on a packet socket: the kernel takes it at once or refuses it.
    sockets.send.broadcast(&broadcast_packet(message))?;
    let socket = &sockets.receive;
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = vec![0u8; 1500];
    loop {
        let received = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await;
        let Ok(received) = received else {
            return Ok(None);
        };
        let (n, from) = received?;
        tracing::debug!(%from, bytes = n, "DHCP packet on port 68");
        match parse_reply(&buf[..n]) {
            Some(reply)
                if reply.xid == xid && reply.chaddr == mac && kinds.contains(&reply.kind) =>
            {
                return Ok(Some(reply));
            }
            _ => {}
        }
    }
}

/// DISCOVER until an OFFER, then REQUEST it until an ACK; a NAK or no ACK starts over.
/// Retransmissions wait `wait`, doubling up to 64 s (RFC 2131 4.1). Runs until it has a
/// lease: the caller aborts it when the cable is pulled.
pub async fn obtain_lease(
    interface: &str,
    mac: [u8; 6],
    wait: Duration,
) -> Result<Lease, DhcpError> {
    let socket = client_sockets(interface)?;
    let io = |source| DhcpError::Socket {
        interface: interface.to_owned(),
        source,
    };
    let mut backoff = wait;
    loop {
        let xid: u32 = rand::thread_rng().r#gen();
        tracing::debug!(%interface, xid, "DHCPDISCOVER");
        let discover = client_message(MessageType::Discover, xid, mac, None);
        let Some(offer) = exchange(&socket, &discover, xid, mac, &[MessageType::Offer], backoff)
            .await
            .map_err(io)?
        else {
            backoff = (backoff * 2).min(Duration::from_secs(64));
            continue;
        };
        let request = client_message(
            MessageType::Request,
            xid,
            mac,
            Some((offer.lease.address, offer.lease.server)),
        );
        let answer = exchange(
            &socket,
            &request,
            xid,
            mac,
            &[MessageType::Ack, MessageType::Nak],
            backoff,
        )
        .await
        .map_err(io)?;
        match answer {
            Some(ack) if ack.kind == MessageType::Ack => return Ok(ack.lease),
            _ => backoff = (backoff * 2).min(Duration::from_secs(64)),
        }
    }
}

/// Puts the leased address on the interface, as the phone's own network stack would, so
/// the phone's sockets can bind it.
fn configure(interface: &str, lease: &Lease) -> Result<(), DhcpError> {
    let prefix = u32::from(lease.netmask).leading_ones();
    let failed = |reason: String| DhcpError::Configure {
        interface: interface.to_owned(),
        address: lease.address,
        reason,
    };
    let output = std::process::Command::new("ip")
        .args(["-4", "address", "replace"])
        .arg(format!("{}/{prefix}", lease.address))
        .args(["dev", interface])
        .output()
        .map_err(|e| failed(format!("cannot run `ip` (iproute2): {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(failed(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
}

/// The link came up: the phone gets its network (N1, N6). Without a DHCP interface, the
/// bench's static address and option 66 after the DHCP delay. With one, a real exchange;
/// `false` when the phone cannot use what it got (it stays off the network, and says why
/// in the twin's log).
pub(super) async fn bring_up(shared: &Shared) -> bool {
    let Some(interface) = shared.spec.dhcp_interface.clone() else {
        shared.clock.sleep(DHCP_S).await;
        return true;
    };
    let bench = &shared.spec.bench;
    let wait = shared.clock.scaled(4.0).max(Duration::from_secs(1));
    let lease = match obtain_lease(&interface, shared.spec.mac, wait).await {
        Ok(lease) => lease,
        Err(error) => {
            tracing::error!(%bench, %error, "no DHCP lease: the phone stays off the network");
            return false;
        }
    };
    tracing::info!(%bench, %interface, address = %lease.address, option_66 = ?lease.option_66, "DHCP lease");
    // The harness tells phones apart by the lab file's address: a lease for another one is
    // a lab wiring error (dnsmasq's dhcp-host gives each bench its own).
    if lease.address != shared.spec.ip {
        tracing::error!(%bench, leased = %lease.address, expected = %shared.spec.ip,
            "DHCP gave another address than the lab file's `ip`: the phone stays off the network");
        return false;
    }
    if let Err(error) = configure(&interface, &lease) {
        tracing::error!(%bench, %error, "the phone stays off the network");
        return false;
    }
    shared.set_option_66(lease.option_66);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x00, 0x15, 0x65, 0x00, 0x00, 0x46];

    /// A server reply as dnsmasq lays it out.
    fn reply(kind: u8, xid: u32, options: &[u8]) -> Vec<u8> {
        let mut packet = vec![0u8; 236];
        packet[0] = BOOTREPLY;
        packet[1] = ETHERNET;
        packet[2] = 6;
        packet[4..8].copy_from_slice(&xid.to_be_bytes());
        packet[16..20].copy_from_slice(&[10, 50, 0, 46]);
        packet[28..34].copy_from_slice(&MAC);
        packet.extend_from_slice(&MAGIC_COOKIE);
        packet.extend_from_slice(&[OPTION_MESSAGE_TYPE, 1, kind]);
        packet.extend_from_slice(options);
        packet.push(OPTION_END);
        packet
    }

    #[test]
    fn a_request_is_a_broadcast_bootrequest_asking_for_option_66() {
        let request = client_message(
            MessageType::Request,
            0x1234_5678,
            MAC,
            Some((Ipv4Addr::new(10, 50, 0, 46), Ipv4Addr::new(10, 50, 0, 1))),
        );
        assert!(request.len() >= 300);
        assert_eq!(request[0], BOOTREQUEST);
        assert_eq!(&request[4..8], &[0x12, 0x34, 0x56, 0x78]);
        assert_eq!(&request[10..12], &[0x80, 0x00], "broadcast flag");
        assert_eq!(&request[28..34], &MAC);
        assert_eq!(&request[236..240], &MAGIC_COOKIE);
        let options = &request[240..];
        assert_eq!(&options[..3], &[OPTION_MESSAGE_TYPE, 1, 3]);
        assert_eq!(&options[3..9], &[OPTION_REQUESTED_IP, 4, 10, 50, 0, 46]);
        assert_eq!(&options[9..15], &[OPTION_SERVER_ID, 4, 10, 50, 0, 1]);
        let list = options
            .windows(2)
            .position(|w| w == [OPTION_PARAMETER_LIST, PARAMETERS.len() as u8])
            .expect("parameter list");
        assert!(options[list + 2..list + 2 + PARAMETERS.len()].contains(&66));
    }

    #[test]
    fn a_broadcast_leaves_from_0_0_0_0_port_68_with_a_valid_udp_checksum() {
        let message = client_message(MessageType::Discover, 5, MAC, None);
        let packet = broadcast_packet(&message);
        assert_eq!(packet.len(), 28 + message.len());
        assert_eq!(&packet[12..20], &[0, 0, 0, 0, 255, 255, 255, 255]);
        assert_eq!(&packet[20..24], &[0, 68, 0, 67]);
        assert_eq!(&packet[28..], &message[..]);
        assert_eq!(
            ipv4_header_checksum(&packet[..20]),
            0,
            "the IP header verifies"
        );
        // Summing the datagram with its checksum in place gives all ones.
        let mut check = packet.clone();
        let sum = udp_checksum(&check[12..20], &check[20..]);
        assert_eq!(sum, 0xffff, "the checksum verifies");
        check[28] ^= 1;
        assert_ne!(udp_checksum(&check[12..20], &check[20..]), 0xffff);
    }

    #[test]
    fn an_ack_gives_address_mask_server_lease_and_option_66() {
        let mut options = vec![OPTION_SERVER_ID, 4, 10, 50, 0, 1];
        options.extend_from_slice(&[OPTION_SUBNET_MASK, 4, 255, 255, 0, 0]);
        options.extend_from_slice(&[OPTION_LEASE_TIME, 4, 0, 0, 0xa8, 0xc0]);
        let url = b"http://10.50.0.1:8080\0";
        options.extend_from_slice(&[OPTION_TFTP_SERVER, url.len() as u8]);
        options.extend_from_slice(url);
        let parsed = parse_reply(&reply(5, 7, &options)).unwrap();
        assert_eq!(parsed.kind, MessageType::Ack);
        assert_eq!(parsed.xid, 7);
        assert_eq!(parsed.chaddr, MAC);
        assert_eq!(
            parsed.lease,
            Lease {
                address: Ipv4Addr::new(10, 50, 0, 46),
                netmask: Ipv4Addr::new(255, 255, 0, 0),
                server: Ipv4Addr::new(10, 50, 0, 1),
                lease_s: Some(43_200),
                option_66: Some("http://10.50.0.1:8080".to_owned()),
            }
        );
        let without = parse_reply(&reply(2, 7, &[OPTION_SERVER_ID, 4, 10, 50, 0, 1])).unwrap();
        assert_eq!(without.kind, MessageType::Offer);
        assert_eq!(without.lease.option_66, None);
    }

    #[test]
    fn requests_truncations_and_unknown_types_are_not_replies() {
        let discover = client_message(MessageType::Discover, 1, MAC, None);
        assert_eq!(parse_reply(&discover), None, "a client's own broadcast");
        let good = reply(5, 1, &[]);
        assert!(parse_reply(&good).is_some());
        assert_eq!(parse_reply(&good[..239]), None);
        assert_eq!(parse_reply(&reply(4, 1, &[])), None, "DECLINE is no reply");
        // An option whose length runs past the end.
        let mut overrun = reply(5, 1, &[]);
        overrun.pop();
        overrun.extend_from_slice(&[OPTION_TFTP_SERVER, 40, b'h']);
        assert_eq!(parse_reply(&overrun), None);
    }

    mod any_bytes {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            /// Whatever arrives on port 68, parsing ends without a panic, and a reply it
            /// accepts is an OFFER, ACK or NAK.
            #[test]
            fn any_packet_is_parsed_or_refused(
                body in proptest::collection::vec(any::<u8>(), 0..120),
                kind in 0u8..8,
            ) {
                let mut packet = reply(kind, 9, &[]);
                packet.pop();
                packet.extend_from_slice(&body);
                if let Some(parsed) = parse_reply(&packet) {
                    prop_assert!(matches!(
                        parsed.kind,
                        MessageType::Offer | MessageType::Ack | MessageType::Nak
                    ));
                }
            }
        }
    }
}
