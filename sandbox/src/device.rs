//! The apps of a device, as its image holds them: each app component's manifest at
//! `/usr/share/compose/apps/NAME.toml` (put there by `compose build`), its WASI
//! component at the path its `run` names, a container app's root file system at
//! `/usr/lib/compose/apps/NAME/rootfs`. Grants are taken as written: on the device, host
//! paths are the device's own.

use std::path::{Path, PathBuf};

use compose_manifest::app::{App, Runtime};
use compose_manifest::diagnostic::SourceFile;
use compose_manifest::layout as image;

use crate::grants::{FileGrant, GrantError, Grants};

/// Why an app of the device cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "no app `{name}` on this device ({path} is missing)\nhelp: `compose-app list` shows the apps of this image; apps are added by putting their component in the device's graph"
    )]
    NoSuchApp { name: String, path: PathBuf },
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path} is not a valid app description: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("app `{name}` cannot be given what its manifest grants: {source}")]
    Grant {
        name: String,
        #[source]
        source: GrantError,
    },
}

/// What runs an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runs {
    /// A WASI component file and its arguments.
    Wasm { file: PathBuf, args: Vec<String> },
    /// A program (and arguments) inside a root file system of its own.
    Container { rootfs: PathBuf, run: Vec<String> },
}

/// One app of the device.
#[derive(Debug, Clone)]
pub struct DeviceApp {
    pub name: String,
    pub summary: String,
    pub app: App,
}

impl DeviceApp {
    /// What runs it, with paths under `root` (`/` on the device).
    pub fn runs(&self, root: &Path) -> Runs {
        match self.app.runtime {
            Runtime::Wasm => Runs::Wasm {
                file: under(root, &self.app.run[0]),
                args: self.app.run[1..].to_vec(),
            },
            Runtime::Container => Runs::Container {
                rootfs: under(root, &image::rootfs(&self.name)),
                run: self.app.run.clone(),
            },
        }
    }

    /// The config of the OCI image a container app came from (what runs, environment,
    /// folder, user), when it came from one.
    pub fn image_config(
        &self,
        root: &Path,
    ) -> Result<Option<compose_oci::ImageConfig>, DeviceError> {
        let path = under(root, &image::image_config(&self.name));
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(DeviceError::Read {
                    path,
                    message: e.to_string(),
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| DeviceError::Invalid {
                path,
                message: e.to_string(),
            })
    }

    /// Its grants, with host paths under `root`; each folder must exist there.
    pub fn grants(&self, root: &Path) -> Result<Grants, DeviceError> {
        let files = self
            .app
            .files
            .iter()
            .map(|f| FileGrant::new(under(root, &f.value.host), &f.value.guest, f.value.write))
            .collect::<Result<_, _>>()
            .map_err(|source| DeviceError::Grant {
                name: self.name.clone(),
                source,
            })?;
        Ok(Grants::from_app(&self.app, files))
    }
}

fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// App `name` of the image whose root is `root`.
pub fn load(root: &Path, name: &str) -> Result<DeviceApp, DeviceError> {
    let path = under(root, &format!("{}/{name}.toml", image::DESCRIPTIONS));
    if name.contains('/') || name.starts_with('.') || !path.is_file() {
        return Err(DeviceError::NoSuchApp {
            name: name.to_string(),
            path,
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|e| DeviceError::Read {
        path: path.clone(),
        message: e.to_string(),
    })?;
    parse(&path, text)
}

fn parse(path: &Path, text: String) -> Result<DeviceApp, DeviceError> {
    let invalid = |message: String| DeviceError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let file = SourceFile::new(path.to_string_lossy(), text);
    let component =
        compose_manifest::manifest::parse_component(&file).map_err(|d| invalid(d.to_string()))?;
    let app = component
        .app
        .ok_or_else(|| invalid("it has no [app] table".into()))?;
    Ok(DeviceApp {
        name: component.name,
        summary: component.summary,
        app,
    })
}

/// Every app of the image whose root is `root`, by name; descriptions that cannot be read
/// are reported as errors beside them.
pub fn list(root: &Path) -> Vec<Result<DeviceApp, DeviceError>> {
    let dir = under(root, image::DESCRIPTIONS);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|e| DeviceError::Read {
                path: path.clone(),
                message: e.to_string(),
            })?;
            parse(&path, text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUSYBOX: &str = r#"[component]
name = "app-busybox"
version = "0.1.0"
summary = "busybox in a container"

[source]
deb = ["busybox-static"]

[app]
runtime = "container"
run = ["/bin/busybox", "sh", "-c", "ls /notes"]
files = [{ host = "/var/notes", guest = "/notes", access = "read" }]
memory = "64M"
"#;

    fn image() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("usr/share/compose/apps");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("app-busybox.toml"), BUSYBOX).unwrap();
        std::fs::write(dir.join("app-broken.toml"), "[component]\nname = 3\n").unwrap();
        root
    }

    #[test]
    fn a_container_app_runs_in_its_own_root_with_device_paths() {
        let root = image();
        let app = load(root.path(), "app-busybox").unwrap();
        assert_eq!(
            app.runs(Path::new("/")),
            Runs::Container {
                rootfs: PathBuf::from("/usr/lib/compose/apps/app-busybox/rootfs"),
                run: vec![
                    "/bin/busybox".into(),
                    "sh".into(),
                    "-c".into(),
                    "ls /notes".into()
                ],
            }
        );
        // Host paths are the device's own: under the root the image is mounted at.
        let e = app.grants(root.path()).unwrap_err().to_string();
        assert!(
            e.contains("app-busybox") && e.contains("var/notes") && e.contains("not a folder"),
            "{e}"
        );
        std::fs::create_dir_all(root.path().join("var/notes")).unwrap();
        let grants = app.grants(root.path()).unwrap();
        assert_eq!(grants.files()[0].host(), root.path().join("var/notes"));
        assert_eq!(grants.files()[0].guest(), "/notes");
        assert!(!grants.files()[0].write());
        assert_eq!(grants.memory(), Some(64 << 20));
        assert!(grants.network().is_empty() && !grants.gui());
    }

    #[test]
    fn unknown_and_broken_apps_are_clear_errors() {
        let root = image();
        let e = load(root.path(), "app-nothing").unwrap_err().to_string();
        assert!(
            e.contains("no app `app-nothing`") && e.contains("compose-app list"),
            "{e}"
        );
        let e = load(root.path(), "../../etc/passwd")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no app"), "{e}");
        let e = load(root.path(), "app-broken").unwrap_err().to_string();
        assert!(
            e.contains("app-broken.toml is not a valid app description"),
            "{e}"
        );
        let all = list(root.path());
        assert_eq!(all.len(), 2);
        assert!(all[0].is_err());
        assert_eq!(all[1].as_ref().unwrap().name, "app-busybox");
    }
}
