//! The X display the compositor holds while no X client runs: the display's lock file
//! and sockets, handed over to Xwayland when the first client connects, and the relay
//! that carries the clients that connected before Xwayland had its own sockets.
//!
//! This is how X servers start on demand elsewhere (mutter, wlroots), except that
//! smithay's launcher binds its own sockets: so the compositor accepts the waiting
//! clients, frees the display, lets smithay bind it for Xwayland, and relays those few
//! first connections (bytes and passed file descriptors) to it. Later clients reach
//! Xwayland directly.

use std::io::{self, IoSlice, IoSliceMut, Write};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};

/// Where X sockets live; a fresh /tmp does not have it.
const SOCKET_DIR: &str = "/tmp/.X11-unix";
/// X servers take the first free display of these.
const DISPLAYS: std::ops::Range<u32> = 0..33;

/// A display held by the compositor: its lock file and its listening sockets (the file
/// in /tmp/.X11-unix and the abstract one), both non-blocking.
#[derive(Debug)]
pub(super) struct Reservation {
    pub display: u32,
    pub listeners: Vec<UnixListener>,
}

impl Reservation {
    /// Holds the first free display, as an X server would pick it.
    pub fn first_free() -> Result<Reservation, String> {
        prepare_socket_dir()?;
        let mut last = String::from("every display from :0 to :32 is taken");
        for display in DISPLAYS {
            match Reservation::display(display) {
                Ok(Some(held)) => return Ok(held),
                Ok(None) => {}
                Err(e) => last = e,
            }
        }
        Err(format!("no free X display: {last}"))
    }

    /// Holds display `display` again (after Xwayland exited), if nobody took it meanwhile.
    pub fn again(display: u32) -> Result<Reservation, String> {
        prepare_socket_dir()?;
        Reservation::display(display)?
            .ok_or_else(|| format!("X display :{display} was taken by another X server"))
    }

    /// `Ok(None)` when another X server holds the display.
    fn display(display: u32) -> Result<Option<Reservation>, String> {
        if !take_lock(display)? {
            return Ok(None);
        }
        // The lock is ours, so a socket file left there is stale.
        let path = socket_path(display);
        let _ = std::fs::remove_file(&path);
        let bound = (|| {
            let file = UnixListener::bind(&path)?;
            let name = SocketAddr::from_abstract_name(path.as_os_str().as_encoded_bytes())?;
            let abstract_socket = UnixListener::bind_addr(&name)?;
            for l in [&file, &abstract_socket] {
                l.set_nonblocking(true)?;
            }
            Ok::<_, io::Error>(vec![file, abstract_socket])
        })();
        match bound {
            Ok(listeners) => Ok(Some(Reservation { display, listeners })),
            Err(e) => {
                release(display);
                Err(format!("cannot listen on X display :{display}: {e}"))
            }
        }
    }

    /// Accepts every client waiting on the display and frees it (sockets closed, lock
    /// and socket files removed), so that Xwayland can take it. The clients come back
    /// blocking.
    pub fn hand_over(mut self) -> Vec<UnixStream> {
        let mut waiting = Vec::new();
        for listener in std::mem::take(&mut self.listeners) {
            while let Ok((stream, _)) = listener.accept() {
                if stream.set_nonblocking(false).is_ok() {
                    waiting.push(stream);
                }
            }
        }
        waiting
        // `self` drops here and frees the display.
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.listeners.clear();
        release(self.display);
    }
}

fn socket_path(display: u32) -> PathBuf {
    Path::new(SOCKET_DIR).join(format!("X{display}"))
}

fn lock_path(display: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/.X{display}-lock"))
}

fn prepare_socket_dir() -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = Path::new(SOCKET_DIR);
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777)))
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Takes the display's lock file the way X servers do (the PID in ten columns); a lock
/// whose process is gone is stale and taken over. `Ok(false)`: a live server holds it.
fn take_lock(display: u32) -> Result<bool, String> {
    let path = lock_path(display);
    for _ in 0..2 {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                return match writeln!(file, "{:>10}", std::process::id()) {
                    Ok(()) => Ok(true),
                    Err(e) => {
                        let _ = std::fs::remove_file(&path);
                        Err(format!("cannot write {}: {e}", path.display()))
                    }
                };
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok())
                    .and_then(rustix::process::Pid::from_raw);
                let stale = match holder {
                    Some(pid) => rustix::process::test_kill_process(pid) == Err(Errno::SRCH),
                    None => false,
                };
                if !stale || std::fs::remove_file(&path).is_err() {
                    return Ok(false);
                }
            }
            Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
        }
    }
    Ok(false)
}

fn release(display: u32) {
    let _ = std::fs::remove_file(socket_path(display));
    let _ = std::fs::remove_file(lock_path(display));
}

/// Connects `client` to the X server on `display` and carries its traffic both ways on
/// two threads until either side closes.
pub(super) fn relay(client: UnixStream, display: u32) -> io::Result<()> {
    let server = UnixStream::connect(socket_path(display))?;
    let (client_in, server_in) = (client.try_clone()?, server.try_clone()?);
    std::thread::Builder::new()
        .name(format!("x11-relay-:{display}-up"))
        .spawn(move || pump(&client_in, &server))?;
    std::thread::Builder::new()
        .name(format!("x11-relay-:{display}-down"))
        .spawn(move || pump(&server_in, &client))?;
    Ok(())
}

/// Copies bytes and passed file descriptors from `from` to `to` until `from` ends, then
/// ends `to`'s writing side. Each descriptor goes with the bytes it came with.
fn pump(from: &UnixStream, to: &UnixStream) {
    const MAX_FDS: usize = 64;
    let mut bytes = vec![0u8; 64 * 1024];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut send_space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    loop {
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = match recvmsg(
            from,
            &mut [IoSliceMut::new(&mut bytes)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(m) => m.bytes,
            Err(Errno::INTR) => continue,
            Err(_) => break,
        };
        let fds: Vec<OwnedFd> = control
            .drain()
            .flat_map(|m| match m {
                RecvAncillaryMessage::ScmRights(fds) => fds.collect(),
                _ => Vec::new(),
            })
            .collect();
        if got == 0 {
            break;
        }
        let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
        let mut sent = 0;
        let mut with_fds = !borrowed.is_empty();
        while sent < got {
            let mut out = SendAncillaryBuffer::new(&mut send_space);
            if with_fds {
                out.push(SendAncillaryMessage::ScmRights(&borrowed));
            }
            match sendmsg(
                to,
                &[IoSlice::new(&bytes[sent..got])],
                &mut out,
                SendFlags::NOSIGNAL,
            ) {
                Ok(n) => {
                    sent += n;
                    with_fds = false;
                }
                Err(Errno::INTR) => {}
                Err(_) => {
                    let _ = from.shutdown(Shutdown::Read);
                    return;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
