//! Apps running now, for `compose app ps` and `stop`: each run records itself as
//! `<pid>.json` in the user's runtime folder (`$XDG_RUNTIME_DIR/compose-apps`, else
//! `/tmp/compose-apps-<uid>`) and removes the record when it ends; records of processes
//! that are gone (killed) are dropped when listed.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// One running app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The id `stop` takes: the process running the app.
    pub id: u32,
    pub app: String,
    pub runtime: String,
    /// Seconds since the Unix epoch.
    pub started: u64,
}

/// Why the list could not be read or an app not stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunningError {
    #[error("cannot use {path}: {message}")]
    Folder { path: PathBuf, message: String },
    #[error("no running app with id {0} (compose app ps lists them)")]
    NoSuchApp(u32),
    #[error("cannot stop app {id}: {message}")]
    Stop { id: u32, message: String },
}

/// The folder of records.
pub fn folder() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("compose-apps"),
        _ => PathBuf::from(format!(
            "/tmp/compose-apps-{}",
            rustix::process::getuid().as_raw()
        )),
    }
}

/// A record of this process running `app`; removed when dropped.
#[derive(Debug)]
pub struct Registration(PathBuf);

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Records that this process runs `app` (written whole, then renamed into place).
pub fn register(app: &str, runtime: &str) -> Result<Registration, RunningError> {
    let dir = folder();
    let fail = |e: std::io::Error| RunningError::Folder {
        path: dir.clone(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let id = std::process::id();
    let entry = Entry {
        id,
        app: app.to_string(),
        runtime: runtime.to_string(),
        started: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let path = dir.join(format!("{id}.json"));
    let partial = dir.join(format!(".{id}.json.partial"));
    let text = serde_json::to_string(&entry).expect("an entry serializes");
    std::fs::write(&partial, text).map_err(fail)?;
    std::fs::rename(&partial, &path).map_err(fail)?;
    Ok(Registration(path))
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The apps running now, oldest first; records of ended processes are removed.
pub fn list() -> Vec<Entry> {
    let Ok(files) = std::fs::read_dir(folder()) else {
        return Vec::new();
    };
    let mut entries = Vec::new();
    for file in files.flatten() {
        let path = file.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let entry = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Entry>(&t).ok());
        match entry {
            Some(e) if alive(e.id) => entries.push(e),
            _ => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    entries.sort_by_key(|e| (e.started, e.id));
    entries
}

/// Stops running app `id` (SIGTERM to its process); its record goes with it.
pub fn stop(id: u32) -> Result<Entry, RunningError> {
    let entry = list()
        .into_iter()
        .find(|e| e.id == id)
        .ok_or(RunningError::NoSuchApp(id))?;
    let pid = rustix::process::Pid::from_raw(id as i32).ok_or(RunningError::NoSuchApp(id))?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).map_err(|e| {
        RunningError::Stop {
            id,
            message: e.to_string(),
        }
    })?;
    let _ = std::fs::remove_file(folder().join(format!("{id}.json")));
    Ok(entry)
}
