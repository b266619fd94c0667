//! Control of a shell over a byte stream, for shells on a device: the shell reads a VM's
//! virtio-serial port (`org.compose.shell`), the host's `compose shell --vm DIR ...` writes
//! to the other end (QEMU's chardev socket). One JSON request per line, one JSON answer per
//! line; answers carry their request's id, so a client skips what was meant for an earlier
//! one that went away. D-Bus (`control`) stays the interface on a desktop.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use smithay::reexports::calloop::channel::Sender;

use crate::compositor::{Command, ask};
use crate::control::{WindowRow, row};
use crate::definition::ShellDef;

/// The virtio-serial port's name (QEMU: `virtserialport,name=...`).
pub const PORT_NAME: &str = "org.compose.shell";

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ask", rename_all = "kebab-case")]
pub enum Ask {
    Swap {
        shell: String,
    },
    Windows,
    /// The current frame as PNG bytes.
    Screenshot,
    /// Frame timing and CPU use.
    Stats,
    /// A setting that lasts (`crate::settings`).
    Set {
        key: String,
        value: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    id: u64,
    #[serde(flatten)]
    ask: Ask,
}

/// The shell's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub id: u64,
    /// What went wrong, if anything did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<WindowRow>,
    /// The screenshot, PNG bytes as hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub png_hex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<crate::compositor::FrameStats>,
}

/// Why a remote request failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(
        "cannot reach the shell at {path}: {source} (is the VM running, started by `compose flash --vm --sockets DIR`?)"
    )]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("talking to the shell at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the shell at {path} did not answer within {seconds} s (is the image's shell running? its console says)"
    )]
    Timeout { path: PathBuf, seconds: u64 },
    #[error("the shell refused: {0}")]
    Refused(String),
}

/// Finds the device node of the virtio-serial port named `name`
/// (`/sys/class/virtio-ports/vportNpM/name`).
pub fn find_port(name: &str) -> Option<PathBuf> {
    let ports = std::fs::read_dir("/sys/class/virtio-ports").ok()?;
    for port in ports.flatten() {
        let named = std::fs::read_to_string(port.path().join("name")).unwrap_or_default();
        if named.trim() == name {
            return Some(Path::new("/dev").join(port.file_name()));
        }
    }
    None
}

/// Serves requests arriving on `port` (a virtio-serial port) on a thread of its own,
/// forwarding them into the compositor loop.
pub fn serve_port(
    port: PathBuf,
    control: Sender<Command>,
    shells: Vec<ShellDef>,
) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&port)?;
    let mut writer = file.try_clone()?;
    std::thread::Builder::new()
        .name("remote control".into())
        .spawn(move || {
            let mut reader = BufReader::new(file);
            let mut line = String::new();
            loop {
                line.clear();
                match reader.read_line(&mut line) {
                    // No host on the other end: wait for one.
                    Ok(0) => std::thread::sleep(Duration::from_millis(250)),
                    Ok(_) => {
                        let answer = answer(&line, &control, &shells);
                        let mut text = serde_json::to_string(&answer).unwrap_or_default();
                        text.push('\n');
                        if let Err(e) = writer.write_all(text.as_bytes()) {
                            tracing::debug!("remote control: answer not sent: {e}");
                        }
                    }
                    Err(e) => {
                        tracing::debug!("remote control: {e}");
                        std::thread::sleep(Duration::from_millis(250));
                    }
                }
            }
        })?;
    Ok(())
}

/// Handles one request line.
fn answer(line: &str, control: &Sender<Command>, shells: &[ShellDef]) -> Answer {
    let request: Request = match serde_json::from_str(line.trim()) {
        Ok(r) => r,
        Err(e) => {
            return Answer {
                error: Some(format!("not a request: {e}")),
                ..Answer::default()
            };
        }
    };
    let mut answer = Answer {
        id: request.id,
        ..Answer::default()
    };
    let wait = Duration::from_secs(10);
    let result: Result<(), String> = match request.ask {
        Ask::Swap { shell } => crate::definition::lookup(shells, &shell).and_then(|def| {
            ask(control, wait, |reply| Command::Swap(def.clone(), reply)).map(|_| ())
        }),
        Ask::Windows => ask(control, wait, Command::Windows)
            .map(|windows| answer.windows = windows.into_iter().map(row).collect()),
        Ask::Screenshot => ask(control, wait, Command::Screenshot)
            .and_then(|shot| shot)
            .map(|image| answer.png_hex = Some(hex::encode(image.png_bytes()))),
        Ask::Stats => ask(control, wait, Command::Stats).map(|s| answer.stats = Some(s)),
        Ask::Set { key, value } => {
            ask(control, wait, |reply| Command::Set(key, value, reply)).and_then(|r| r)
        }
    };
    answer.error = result.err();
    answer
}

/// Sends `ask` to the shell behind the Unix socket `socket` (QEMU's end of the port) and
/// waits up to `timeout` for its answer.
pub fn request(socket: &Path, ask: Ask, timeout: Duration) -> Result<Answer, RemoteError> {
    let io = |source| RemoteError::Io {
        path: socket.to_path_buf(),
        source,
    };
    let mut stream =
        std::os::unix::net::UnixStream::connect(socket).map_err(|source| RemoteError::Connect {
            path: socket.to_path_buf(),
            source,
        })?;
    let id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut line = serde_json::to_string(&Request { id, ask }).map_err(|e| io(e.into()))?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(io)?;
    let deadline = Instant::now() + timeout;
    let mut reader = BufReader::new(stream.try_clone().map_err(io)?);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(RemoteError::Timeout {
                path: socket.to_path_buf(),
                seconds: timeout.as_secs(),
            });
        }
        stream.set_read_timeout(Some(left)).map_err(io)?;
        let mut text = String::new();
        match reader.read_line(&mut text) {
            Ok(0) => {
                return Err(io(std::io::Error::other("QEMU closed the channel")));
            }
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue;
            }
            Err(e) => return Err(io(e)),
        }
        let Ok(answer) = serde_json::from_str::<Answer>(text.trim()) else {
            continue;
        };
        if answer.id != id {
            continue; // meant for an earlier client
        }
        return match answer.error {
            Some(e) => Err(RemoteError::Refused(e)),
            None => Ok(answer),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_json_line_with_the_ask_inline() {
        let text = serde_json::to_string(&Request {
            id: 7,
            ask: Ask::Swap {
                shell: "gaming".into(),
            },
        })
        .unwrap();
        assert_eq!(text, r#"{"id":7,"ask":"swap","shell":"gaming"}"#);
        let back: Request = serde_json::from_str(r#"{"id":8,"ask":"windows"}"#).unwrap();
        assert_eq!(back.ask, Ask::Windows);
    }
}
