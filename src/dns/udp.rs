//! Batched UDP: one `recvmmsg` takes up to [`BATCH`] queries, one `sendmmsg` sends their
//! replies. Syscalls are most of a DNSBL server's cost (rbldnsd spends ~80% of its time
//! in the kernel), so batching them is where the speed is.
//!
//! The standard library has neither call, so this module fills the C structures they
//! take itself: one of the two places `unsafe` is allowed (the other is `memory`).
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

use smallvec::SmallVec;

use super::batch::{BATCH, Datagram};

/// Queries are small; a larger datagram is no query ward answers (it is dropped).
pub(crate) const RECV_SIZE: usize = 4096;

/// Received datagrams and their senders, reused from batch to batch.
pub(crate) struct Batch {
    buffers: Vec<u8>,
    lens: [usize; BATCH],
    truncated: [bool; BATCH],
    addrs: [libc::sockaddr_storage; BATCH],
    addr_lens: [libc::socklen_t; BATCH],
    count: usize,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            buffers: vec![0; BATCH * RECV_SIZE],
            lens: [0; BATCH],
            truncated: [false; BATCH],
            // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
            addrs: unsafe { zeroed() },
            addr_lens: [0; BATCH],
            count: 0,
        }
    }
}

impl Batch {
    /// Waits for at least one datagram (or the socket's read timeout) and takes all
    /// that are queued, up to [`BATCH`].
    pub(crate) fn receive(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.receive_with(socket, libc::MSG_WAITFORONE)
    }

    /// Takes what is queued, up to [`BATCH`], without waiting (`WouldBlock` when
    /// nothing is): draining the socket when stopping.
    pub(crate) fn receive_queued(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.receive_with(socket, libc::MSG_DONTWAIT)
    }

    fn receive_with(&mut self, socket: &UdpSocket, flags: libc::c_int) -> io::Result<usize> {
        // SAFETY: iovec is a plain C struct (a pointer and a length); all zero is valid.
        let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
        // SAFETY: mmsghdr is a plain C struct of pointers and integers; all zero is valid.
        let mut messages: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for (i, (iov, msg)) in iovecs.iter_mut().zip(messages.iter_mut()).enumerate() {
            iov.iov_base = self.buffers[i * RECV_SIZE..].as_mut_ptr().cast();
            iov.iov_len = RECV_SIZE;
            msg.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            msg.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            msg.msg_hdr.msg_iov = iov;
            msg.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every pointer in `messages` points into `self.buffers`, `self.addrs`
        // or `iovecs`, all alive and unmoved for the duration of the call, with the
        // lengths given; the kernel writes at most those lengths.
        let received = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                messages.as_mut_ptr(),
                BATCH as libc::c_uint,
                flags,
                std::ptr::null_mut(),
            )
        };
        if received < 0 {
            self.count = 0;
            return Err(io::Error::last_os_error());
        }
        self.count = received as usize;
        for (i, msg) in messages.iter().take(self.count).enumerate() {
            self.lens[i] = msg.msg_len as usize;
            self.truncated[i] = msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            self.addr_lens[i] = msg.msg_hdr.msg_namelen;
        }
        Ok(self.count)
    }

    /// The datagrams received, for answering, at the indexes [`send`](Self::send)
    /// takes. One whose sender cannot be read (no such thing on an IP socket) has no
    /// bytes, so it gets no answer.
    pub(crate) fn datagrams(&self) -> SmallVec<[Datagram<'_>; BATCH]> {
        (0..self.count)
            .map(|i| match self.peer(i) {
                Some(peer) => Datagram {
                    bytes: self.packet(i),
                    peer,
                },
                None => Datagram {
                    bytes: None,
                    peer: SocketAddr::from(([0, 0, 0, 0], 0)),
                },
            })
            .collect()
    }

    /// Datagram `i`, or `None` if it was larger than [`RECV_SIZE`].
    fn packet(&self, i: usize) -> Option<&[u8]> {
        (!self.truncated[i]).then(|| &self.buffers[i * RECV_SIZE..i * RECV_SIZE + self.lens[i]])
    }

    fn peer(&self, i: usize) -> Option<SocketAddr> {
        let storage = &self.addrs[i];
        match i32::from(storage.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says this storage holds a sockaddr_in.
                let sin: &libc::sockaddr_in =
                    unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says this storage holds a sockaddr_in6.
                let sin6: &libc::sockaddr_in6 =
                    unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// Sends `replies[i]` back to the sender of datagram `i`, for each `i` in `ready`.
    /// A reply the kernel refuses (unreachable sender, …) is skipped, never retried
    /// forever.
    pub(crate) fn send(&self, socket: &UdpSocket, replies: &[Vec<u8>], ready: &[usize]) {
        let mut sent = 0;
        let mut attempts = 0;
        while sent < ready.len() && attempts < 8 {
            let chunk = &ready[sent..ready.len().min(sent + BATCH)];
            // SAFETY: as in `receive`: a plain C struct, valid all zero.
            let mut iovecs: [libc::iovec; BATCH] = unsafe { zeroed() };
            // SAFETY: as in `receive`: a plain C struct, valid all zero.
            let mut messages: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
            for (j, &i) in chunk.iter().enumerate() {
                let bytes = &replies[i];
                iovecs[j].iov_base = bytes.as_ptr() as *mut libc::c_void;
                iovecs[j].iov_len = bytes.len();
                messages[j].msg_hdr.msg_name =
                    (&self.addrs[i] as *const libc::sockaddr_storage) as *mut libc::c_void;
                messages[j].msg_hdr.msg_namelen = self.addr_lens[i];
                messages[j].msg_hdr.msg_iov = &mut iovecs[j];
                messages[j].msg_hdr.msg_iovlen = 1;
            }
            // SAFETY: pointers reference `chunk`'s buffers, `self.addrs` and `iovecs`,
            // all alive for the call.
            let result = unsafe {
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    messages.as_mut_ptr(),
                    chunk.len() as libc::c_uint,
                    0,
                )
            };
            if result > 0 {
                sent += result as usize;
                attempts = 0;
                continue;
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => attempts += 1,
                _ => {
                    // This destination failed; the others still get their replies.
                    tracing::debug!(%error, "dropping a UDP reply");
                    sent += 1;
                }
            }
        }
    }
}
