//! A minimal client for the kernel's sock_diag netlink interface (`NETLINK_SOCK_DIAG`), just
//! enough to dump every TCP socket's state and queue sizes without parsing `/proc/net/tcp`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `SOCK_DIAG_BY_FAMILY` message type.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// Header size of every netlink message.
const NLMSG_HDRLEN: usize = 16;
/// `struct inet_diag_req_v2` size.
const REQ_LEN: usize = 56;
/// Offsets into `struct inet_diag_msg`.
const MSG_STATE: usize = 1;
const MSG_RQUEUE: usize = 56;
const MSG_WQUEUE: usize = 60;
const MSG_LEN: usize = 72;
/// A dump that has not finished after this many reads is treated as broken.
const MAX_READS: usize = 1 << 20;

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    buf.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_ne_bytes)
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    buf.get(at..at + 2)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_ne_bytes)
}

fn malformed() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "malformed sock_diag reply")
}

/// Calls `each(state, rx_queue, tx_queue)` for every TCP socket of `family`
/// (`AF_INET` or `AF_INET6`) in this network namespace.
pub(super) fn dump_tcp(family: u8, each: &mut dyn FnMut(u8, u32, u32)) -> io::Result<()> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly created descriptor owned by nobody else.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // A receive timeout bounds the dump even if the kernel never sends NLMSG_DONE.
    let timeout = libc::timeval {
        tv_sec: 5,
        tv_usec: 0,
    };
    // SAFETY: the option value points at a live timeval of the size given.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }

    let mut req = [0u8; NLMSG_HDRLEN + REQ_LEN];
    req[0..4].copy_from_slice(&((NLMSG_HDRLEN + REQ_LEN) as u32).to_ne_bytes());
    req[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req[6..8].copy_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    req[NLMSG_HDRLEN] = family;
    req[NLMSG_HDRLEN + 1] = libc::IPPROTO_TCP as u8;
    // Every state bit: established through closing, plus the kernel-internal ones.
    req[NLMSG_HDRLEN + 4..NLMSG_HDRLEN + 8].copy_from_slice(&0xffff_u32.to_ne_bytes());

    // SAFETY: sockaddr_nl is plain old data; zero means "the kernel".
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: the buffer and address are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }

    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..MAX_READS {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        let data = buf.get(..n as usize).ok_or_else(malformed)?;
        if data.is_empty() {
            return Err(malformed());
        }
        let mut offset = 0;
        while offset + NLMSG_HDRLEN <= data.len() {
            let len = u32_at(data, offset).ok_or_else(malformed)? as usize;
            let kind = u16_at(data, offset + 4).ok_or_else(malformed)?;
            if len < NLMSG_HDRLEN || offset + len > data.len() {
                return Err(malformed());
            }
            match kind {
                k if k == libc::NLMSG_DONE as u16 => return Ok(()),
                k if k == libc::NLMSG_ERROR as u16 => {
                    let errno = u32_at(data, offset + NLMSG_HDRLEN).ok_or_else(malformed)? as i32;
                    return Err(io::Error::from_raw_os_error(-errno));
                }
                SOCK_DIAG_BY_FAMILY => {
                    let msg = data
                        .get(offset + NLMSG_HDRLEN..offset + len)
                        .ok_or_else(malformed)?;
                    if msg.len() < MSG_LEN {
                        return Err(malformed());
                    }
                    let state = *msg.get(MSG_STATE).ok_or_else(malformed)?;
                    let rx = u32_at(msg, MSG_RQUEUE).ok_or_else(malformed)?;
                    let tx = u32_at(msg, MSG_WQUEUE).ok_or_else(malformed)?;
                    each(state, rx, tx);
                }
                _ => {}
            }
            // Messages are 4-byte aligned.
            offset += (len + 3) & !3;
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "sock_diag dump did not finish",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_listening_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut listening = 0;
        dump_tcp(libc::AF_INET as u8, &mut |state, _, _| {
            if state == 10 {
                listening += 1;
            }
        })
        .unwrap();
        assert!(listening >= 1);
        drop(listener);
    }
}
