//! TCP segment authentication on a socket: TCP-MD5 (RFC 2385) and TCP-AO
//! (RFC 5925). The parent, as root during start-up, adds the keys to each
//! listening socket before it hands the socket to the rtr worker; accepted
//! connections inherit them from the listener. `rovctl`, with its user's
//! privileges, adds one key to its socket before it connects.
//!
//! Linux keeps the keys per socket: [`add_md5_key`] uses
//! `TCP_MD5SIG_EXT` with an address prefix, [`add_ao_key`] uses
//! `TCP_AO_ADD_KEY` (Linux 6.7 and later, `CONFIG_TCP_AO`), and
//! [`ao_supported`] tells whether the running kernel has TCP-AO at all.
//! OpenBSD keeps TCP-MD5 keys in the IPsec security association database
//! (ipsecctl(8) `tcpmd5` rules); the socket option only switches signing
//! on, so [`add_md5_key`] does that and ignores the key. OpenBSD has no
//! TCP-AO, and other systems have neither: those calls fail with
//! [`io::ErrorKind::Unsupported`] and a message saying so.

use std::io;
use std::net::IpAddr;
use std::os::fd::BorrowedFd;

/// Longest key the kernel takes, in octets, for either option
/// (`TCP_MD5SIG_MAXKEYLEN`, `TCP_AO_MAXKEYLEN` in linux/tcp.h).
pub const MAX_KEY_LEN: usize = 80;

/// Length of the TCP-AO message authentication code, octets: 96 bits, as
/// RFC 5926 §3.2 has for both of its algorithms.
pub const AO_MAC_LEN: u8 = 12;

/// A TCP-MD5 key for the peers in one address prefix.
#[derive(Clone, Copy)]
pub struct Md5Key<'a> {
    /// The peer address, or the first address of the prefix.
    pub peer: IpAddr,
    /// The prefix length; 32 or 128 for one address.
    pub prefix_len: u8,
    /// The key, 1 to [`MAX_KEY_LEN`] octets.
    pub key: &'a [u8],
}

/// The MAC algorithms of TCP-AO that Linux offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AoAlgorithm {
    /// HMAC-SHA-1-96 (RFC 5926 §3.2.1).
    HmacSha1,
    /// AES-128-CMAC-96 (RFC 5926 §3.2.2).
    CmacAes128,
    /// HMAC-SHA-256 truncated to 96 bits: not in RFC 5926, offered by
    /// some routers.
    HmacSha256,
}

impl AoAlgorithm {
    /// The kernel crypto API name `TCP_AO_ADD_KEY` expects; Linux maps
    /// `cmac(aes128)` to the RFC 5926 key derivation itself.
    pub fn kernel_name(self) -> &'static str {
        match self {
            AoAlgorithm::HmacSha1 => "hmac(sha1)",
            AoAlgorithm::CmacAes128 => "cmac(aes128)",
            AoAlgorithm::HmacSha256 => "hmac(sha256)",
        }
    }
}

/// A TCP-AO master key tuple (RFC 5925 §4.1) for the peers in one address
/// prefix.
#[derive(Clone, Copy)]
pub struct AoKey<'a> {
    /// The peer address, or the first address of the prefix.
    pub peer: IpAddr,
    /// The prefix length; 32 or 128 for one address.
    pub prefix_len: u8,
    /// The master key, 1 to [`MAX_KEY_LEN`] octets.
    pub key: &'a [u8],
    /// The KeyID put into segments we send.
    pub send_id: u8,
    /// The KeyID expected in segments we receive.
    pub recv_id: u8,
    /// The MAC algorithm.
    pub algorithm: AoAlgorithm,
}

fn check_key(key: &[u8]) -> io::Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a key must be 1 to {MAX_KEY_LEN} octets"),
        ));
    }
    Ok(())
}

fn check_prefix(peer: IpAddr, prefix_len: u8) -> io::Result<()> {
    let max = if peer.is_ipv4() { 32 } else { 128 };
    if prefix_len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("prefix length {prefix_len} exceeds {max}"),
        ));
    }
    Ok(())
}

//------------ Linux ---------------------------------------------------------

#[cfg(target_os = "linux")]
pub(crate) mod linux {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::IpAddr;
    use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

    use super::{AoKey, Md5Key, AO_MAC_LEN, MAX_KEY_LEN};

    /// linux/tcp.h; `TCP_MD5SIG_EXT` since Linux 4.13.
    pub(crate) const TCP_MD5SIG_EXT: libc::c_int = 32;
    /// `tcpm_prefixlen` is valid.
    pub(super) const TCP_MD5SIG_FLAG_PREFIX: u8 = 0x1;
    /// linux/tcp.h, Linux 6.7.
    pub(crate) const TCP_AO_ADD_KEY: libc::c_int = 38;
    /// linux/tcp.h, Linux 6.7.
    pub(super) const TCP_AO_INFO: libc::c_int = 40;

    /// `struct tcp_md5sig` of linux/tcp.h (216 octets).
    #[repr(C)]
    pub(super) struct TcpMd5Sig {
        pub(super) addr: libc::sockaddr_storage,
        pub(super) flags: u8,
        pub(super) prefix_len: u8,
        pub(super) key_len: u16,
        pub(super) ifindex: libc::c_int,
        pub(super) key: [u8; MAX_KEY_LEN],
    }

    /// `struct tcp_ao_add` of linux/tcp.h as introduced in Linux 6.7
    /// (288 octets, aligned to 8). The installed uapi header may predate
    /// it, so the layout is written out here:
    ///
    /// ```text
    /// struct __kernel_sockaddr_storage addr;   0  peer address
    /// char   alg_name[64];                   128  crypto API name
    /// __s32  ifindex;                        192  L3 device (VRF), 0: any
    /// __u32  set_current:1, set_rnext:1,     196  bit 0, bit 1
    ///        reserved:30;
    /// __u16  reserved2;                      200
    /// __u8   prefix;                         202  peer prefix length
    /// __u8   sndid;                          203  SendID
    /// __u8   rcvid;                          204  RecvID
    /// __u8   maclen;                         205  MAC octets
    /// __u8   keyflags;                       206  TCP_AO_KEYF_*
    /// __u8   keylen;                         207
    /// __u8   key[TCP_AO_MAXKEYLEN];          208
    /// ```
    #[repr(C, align(8))]
    pub(super) struct TcpAoAdd {
        pub(super) addr: libc::sockaddr_storage,
        pub(super) alg_name: [u8; 64],
        pub(super) ifindex: i32,
        pub(super) set_flags: u32,
        pub(super) reserved2: u16,
        pub(super) prefix: u8,
        pub(super) send_id: u8,
        pub(super) recv_id: u8,
        pub(super) mac_len: u8,
        pub(super) key_flags: u8,
        pub(super) key_len: u8,
        pub(super) key: [u8; MAX_KEY_LEN],
    }

    /// `struct tcp_ao_info_opt` of linux/tcp.h (48 octets), only as room
    /// for the probe's answer.
    #[repr(C, align(8))]
    struct TcpAoInfoOpt {
        flags: u32,
        reserved2: u16,
        current_key: u8,
        rnext: u8,
        counters: [u64; 5],
    }

    /// The peer address as the kernel reads it, port 0.
    #[allow(clippy::cast_possible_truncation)] // AF_INET and AF_INET6 fit sa_family_t
    pub(super) fn sockaddr(peer: IpAddr) -> libc::sockaddr_storage {
        // SAFETY: sockaddr_storage is plain old data; all zeros is a valid
        // (AF_UNSPEC) value.
        let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
        match peer {
            IpAddr::V4(a) => {
                // SAFETY: sockaddr_storage is larger than and aligned at
                // least as strictly as sockaddr_in, and both are plain old
                // data, so the cast reference covers valid memory only.
                let sin = unsafe { &mut *(&raw mut ss).cast::<libc::sockaddr_in>() };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
            }
            IpAddr::V6(a) => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6 = unsafe { &mut *(&raw mut ss).cast::<libc::sockaddr_in6>() };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_addr.s6_addr = a.octets();
            }
        }
        ss
    }

    pub(super) fn md5sig(k: &Md5Key) -> TcpMd5Sig {
        let mut key = [0u8; MAX_KEY_LEN];
        key[..k.key.len()].copy_from_slice(k.key);
        TcpMd5Sig {
            addr: sockaddr(k.peer),
            flags: TCP_MD5SIG_FLAG_PREFIX,
            prefix_len: k.prefix_len,
            // At most MAX_KEY_LEN: the copy into `key` above checks it.
            #[allow(clippy::cast_possible_truncation)]
            key_len: k.key.len() as u16,
            ifindex: 0,
            key,
        }
    }

    pub(super) fn ao_add(k: &AoKey) -> TcpAoAdd {
        let mut alg_name = [0u8; 64];
        let name = k.algorithm.kernel_name().as_bytes();
        alg_name[..name.len()].copy_from_slice(name);
        let mut key = [0u8; MAX_KEY_LEN];
        key[..k.key.len()].copy_from_slice(k.key);
        TcpAoAdd {
            addr: sockaddr(k.peer),
            alg_name,
            ifindex: 0,
            // Neither set_current nor set_rnext: a listener has no current
            // key, and on a connecting socket the kernel takes the first
            // key that matches the peer.
            set_flags: 0,
            reserved2: 0,
            prefix: k.prefix_len,
            send_id: k.send_id,
            recv_id: k.recv_id,
            mac_len: AO_MAC_LEN,
            // Options other than TCP-AO are included in the MAC: the MKT's
            // TCP option flag is set (RFC 5925 §4.1).
            key_flags: 0,
            // At most MAX_KEY_LEN: the copy into `key` above checks it.
            #[allow(clippy::cast_possible_truncation)]
            key_len: k.key.len() as u8,
            key,
        }
    }

    fn set<T>(fd: BorrowedFd, name: libc::c_int, value: &T) -> io::Result<()> {
        #[allow(clippy::cast_possible_truncation)] // the option structs are < 1 KiB
        // SAFETY: `value` points to a live, initialised `T` of exactly the
        // length passed; the kernel only reads it during the call.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                name,
                std::ptr::from_ref(value).cast::<libc::c_void>(),
                size_of::<T>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    pub(super) fn add_md5_key(fd: BorrowedFd, k: &Md5Key) -> io::Result<()> {
        set(fd, TCP_MD5SIG_EXT, &md5sig(k)).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOPROTOOPT) => io::Error::new(
                io::ErrorKind::Unsupported,
                "this kernel has no TCP-MD5 (CONFIG_TCP_MD5SIG)",
            ),
            _ => e,
        })
    }

    pub(super) fn add_ao_key(fd: BorrowedFd, k: &AoKey) -> io::Result<()> {
        set(fd, TCP_AO_ADD_KEY, &ao_add(k)).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOPROTOOPT) => io::Error::new(
                io::ErrorKind::Unsupported,
                "this kernel has no TCP-AO (needs Linux 6.7 or later with CONFIG_TCP_AO)",
            ),
            Some(libc::ENOENT) => io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "the kernel lacks the crypto algorithm {}",
                    k.algorithm.kernel_name()
                ),
            ),
            _ => e,
        })
    }

    pub(super) fn ao_supported() -> io::Result<bool> {
        // SAFETY: plain socket(2); the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: all zeros is a valid value of this plain old data struct.
        let mut info: TcpAoInfoOpt = unsafe { zeroed() };
        #[allow(clippy::cast_possible_truncation)] // 48 octets
        let mut len = size_of::<TcpAoInfoOpt>() as libc::socklen_t;
        // SAFETY: `info` is writable for `len` octets and `len` is a live
        // socklen_t; the kernel writes at most that much.
        let r = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                TCP_AO_INFO,
                (&raw mut info).cast::<libc::c_void>(),
                &raw mut len,
            )
        };
        // A socket without keys answers ENOENT; a kernel without TCP-AO
        // does not know the option at all.
        if r == 0 {
            return Ok(true);
        }
        Ok(io::Error::last_os_error().raw_os_error() != Some(libc::ENOPROTOOPT))
    }
}

//------------ OpenBSD -------------------------------------------------------

#[cfg(target_os = "openbsd")]
mod openbsd {
    use super::*;

    use std::mem::size_of;
    use std::os::fd::AsRawFd;

    /// netinet/tcp.h: an int, on or off; the keys live in the SA database.
    const TCP_MD5SIG: libc::c_int = 0x04;

    pub(super) fn add_md5_key(fd: BorrowedFd, _k: &Md5Key) -> io::Result<()> {
        let on: libc::c_int = 1;
        // SAFETY: `on` is a live int of the length passed; the kernel only
        // reads it during the call.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::IPPROTO_TCP,
                TCP_MD5SIG,
                &on as *const libc::c_int as *const libc::c_void,
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

//------------ Interface -----------------------------------------------------

/// Adds a TCP-MD5 key for the peers in `key`'s prefix to the TCP socket
/// `fd`: on a listener, before it accepts; on a client socket, before it
/// connects. On OpenBSD this only switches signing on: the key itself must
/// be in the SA database (ipsec.conf(5) `tcpmd5`).
pub fn add_md5_key(fd: BorrowedFd, key: &Md5Key) -> io::Result<()> {
    check_key(key.key)?;
    check_prefix(key.peer, key.prefix_len)?;
    #[cfg(target_os = "linux")]
    return linux::add_md5_key(fd, key);
    #[cfg(target_os = "openbsd")]
    return openbsd::add_md5_key(fd, key);
    #[cfg(not(any(target_os = "linux", target_os = "openbsd")))]
    {
        let _ = fd;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "TCP-MD5 is supported on Linux and OpenBSD only",
        ))
    }
}

/// Adds a TCP-AO master key tuple for the peers in `key`'s prefix to the
/// TCP socket `fd`, as [`add_md5_key`] does. Linux only.
pub fn add_ao_key(fd: BorrowedFd, key: &AoKey) -> io::Result<()> {
    check_key(key.key)?;
    check_prefix(key.peer, key.prefix_len)?;
    #[cfg(target_os = "linux")]
    return linux::add_ao_key(fd, key);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = fd;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "TCP-AO is supported on Linux 6.7 and later only",
        ))
    }
}

/// Whether the running kernel has TCP-AO. `Ok(false)` also on systems
/// other than Linux.
pub fn ao_supported() -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    return linux::ao_supported();
    #[cfg(not(target_os = "linux"))]
    Ok(false)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    // libc's int constants against the kernel's u16 fields.
    #![allow(clippy::cast_possible_truncation)]

    use super::linux::{ao_add, md5sig, TcpAoAdd, TcpMd5Sig, TCP_MD5SIG_FLAG_PREFIX};
    use super::*;

    use std::mem::{align_of, offset_of, size_of};
    use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
    use std::os::fd::AsFd;

    /// Sizes and offsets of linux/tcp.h (struct `tcp_md5sig` since 4.13,
    /// struct `tcp_ao_add` since 6.7) on every Linux ABI rovd builds for.
    #[test]
    fn uapi_layouts() {
        assert_eq!(size_of::<libc::sockaddr_storage>(), 128);
        assert_eq!(size_of::<TcpMd5Sig>(), 216);
        assert_eq!(offset_of!(TcpMd5Sig, flags), 128);
        assert_eq!(offset_of!(TcpMd5Sig, prefix_len), 129);
        assert_eq!(offset_of!(TcpMd5Sig, key_len), 130);
        assert_eq!(offset_of!(TcpMd5Sig, ifindex), 132);
        assert_eq!(offset_of!(TcpMd5Sig, key), 136);

        assert_eq!(size_of::<TcpAoAdd>(), 288);
        assert_eq!(align_of::<TcpAoAdd>(), 8);
        assert_eq!(offset_of!(TcpAoAdd, alg_name), 128);
        assert_eq!(offset_of!(TcpAoAdd, ifindex), 192);
        assert_eq!(offset_of!(TcpAoAdd, set_flags), 196);
        assert_eq!(offset_of!(TcpAoAdd, reserved2), 200);
        assert_eq!(offset_of!(TcpAoAdd, prefix), 202);
        assert_eq!(offset_of!(TcpAoAdd, send_id), 203);
        assert_eq!(offset_of!(TcpAoAdd, recv_id), 204);
        assert_eq!(offset_of!(TcpAoAdd, mac_len), 205);
        assert_eq!(offset_of!(TcpAoAdd, key_flags), 206);
        assert_eq!(offset_of!(TcpAoAdd, key_len), 207);
        assert_eq!(offset_of!(TcpAoAdd, key), 208);
    }

    /// The octets of a value, as the kernel reads them.
    fn octets<T>(v: &T) -> &[u8] {
        // SAFETY: any initialised value may be read as octets; the structs
        // here are repr(C) without padding between the fields set.
        unsafe { std::slice::from_raw_parts(std::ptr::from_ref(v).cast::<u8>(), size_of::<T>()) }
    }

    #[test]
    fn md5_encoding() {
        let k = Md5Key {
            peer: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)),
            prefix_len: 24,
            key: b"secret",
        };
        let s = md5sig(&k);
        let b = octets(&s);
        // sockaddr_in: family (host order), port 0, address.
        assert_eq!(u16::from_ne_bytes([b[0], b[1]]), libc::AF_INET as u16);
        assert_eq!(&b[2..4], [0, 0]);
        assert_eq!(&b[4..8], [192, 0, 2, 0]);
        assert_eq!(b[128], TCP_MD5SIG_FLAG_PREFIX); // tcpm_flags
        assert_eq!(b[129], 24); // tcpm_prefixlen
        assert_eq!(u16::from_ne_bytes([b[130], b[131]]), 6); // tcpm_keylen
        assert_eq!(&b[132..136], [0; 4]); // tcpm_ifindex
        assert_eq!(&b[136..142], b"secret");
        assert!(b[142..216].iter().all(|&x| x == 0));
    }

    #[test]
    fn ao_encoding() {
        let k = AoKey {
            peer: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
            prefix_len: 128,
            key: b"0123456789abcdef",
            send_id: 7,
            recv_id: 9,
            algorithm: AoAlgorithm::CmacAes128,
        };
        let s = ao_add(&k);
        let b = octets(&s);
        // sockaddr_in6: family, port, flowinfo, address at 8.
        assert_eq!(u16::from_ne_bytes([b[0], b[1]]), libc::AF_INET6 as u16);
        assert_eq!(
            &b[8..24],
            k.peer.to_string().parse::<Ipv6Addr>().unwrap().octets()
        );
        assert_eq!(&b[128..140], b"cmac(aes128)");
        assert!(b[140..192].iter().all(|&x| x == 0));
        assert_eq!(&b[192..202], [0; 10]); // ifindex, flags, reserved2
        assert_eq!(&b[202..208], [128, 7, 9, 12, 0, 16]);
        assert_eq!(&b[208..224], b"0123456789abcdef");
    }

    #[test]
    fn keys_out_of_bounds_are_refused() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let long = [b'x'; MAX_KEY_LEN + 1];
        for key in [&b""[..], &long[..]] {
            let k = Md5Key {
                peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
                prefix_len: 32,
                key,
            };
            let e = add_md5_key(l.as_fd(), &k).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        }
        let k = Md5Key {
            peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
            prefix_len: 33,
            key: b"k",
        };
        assert!(add_md5_key(l.as_fd(), &k).is_err());
    }

    /// This kernel takes an MD5 key on a listener, for one address and for
    /// a prefix (skipped on a kernel built without TCP-MD5).
    #[test]
    fn md5_key_on_a_listener() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        for (peer, prefix_len) in [(Ipv4Addr::LOCALHOST, 32), (Ipv4Addr::new(10, 0, 0, 0), 8)] {
            let k = Md5Key {
                peer: IpAddr::V4(peer),
                prefix_len,
                key: b"a key",
            };
            match add_md5_key(l.as_fd(), &k) {
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                    println!("skipped: {e}");
                    return;
                }
                r => r.unwrap(),
            }
        }
    }

    #[test]
    fn ao_probe_agrees_with_adding_a_key() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let k = AoKey {
            peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
            prefix_len: 32,
            key: b"a key",
            send_id: 1,
            recv_id: 2,
            algorithm: AoAlgorithm::HmacSha1,
        };
        let added = add_ao_key(l.as_fd(), &k);
        if ao_supported().unwrap() {
            added.unwrap();
        } else {
            let e = added.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
            assert!(e.to_string().contains("TCP-AO"), "{e}");
        }
    }
}
