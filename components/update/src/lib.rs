//! compose-update: the update protocol, shared by `compose publish` on the build machine and
//! the update agent on the device. `keys` makes and reads ed25519 keys; `release` is the
//! signed metadata of one version of a device (version, generation, expiry, the hashes of
//! its slot image, kernel and initramfs) and every check that refuses one; `chunks` splits
//! images into content-defined chunks (FastCDC) named by digest; `apply` makes an image from
//! chunks, copying those a local slot already has and fetching the rest; `repo` is where each file
//! of an update repository lives (static files, any HTTP server can serve them); `agent`
//! is the device's side: what runs, what a repository offers, the new slot image made;
//! `install` writes a release into the other slot and its boot entry last, and picks the
//! slot that boots next; `device` finds the running device's slots and ESP; `fleet` is the
//! protocol between the agent and a fleet server (enroll, poll, report, FleetLock); `net`
//! is how the agent reaches servers (HTTPS with the image's pinned CAs, plain HTTP only to
//! loopback); `identity` is the device's own key and certificate in a fleet, and `link` its
//! connection to a fleet server.

pub mod agent;
pub mod apply;
pub mod chunks;
pub mod device;
pub mod fleet;
pub mod identity;
pub mod install;
pub mod keys;
pub mod link;
pub mod net;
pub mod release;
pub mod repo;

/// SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Bytes that look like file system contents to a chunker (xorshift noise), for tests.
#[cfg(test)]
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
