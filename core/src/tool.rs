//! The existing tools compose runs (mkfs.*, mtools, sfdisk, depmod, dpkg-deb, apt, qemu):
//! running one, and errors that say which Debian package to install.

use std::process::Command;

/// A tool that is missing or failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(
        "`{tool}` is not available ({source}); install the Debian package `{package}` (scripts/setup does)"
    )]
    Missing {
        tool: &'static str,
        package: &'static str,
        source: std::io::Error,
    },
    #[error("`{tool}` failed: {message}")]
    Failed { tool: String, message: String },
}

impl ToolError {
    /// For `map_err` on a spawn: the tool could not be started.
    pub fn missing(
        tool: &'static str,
        package: &'static str,
    ) -> impl FnOnce(std::io::Error) -> ToolError {
        move |source| ToolError::Missing {
            tool,
            package,
            source,
        }
    }
}

/// Runs `cmd` to completion; its stdout, or its stderr as the failure.
pub fn run(
    cmd: &mut Command,
    tool: &'static str,
    package: &'static str,
) -> Result<Vec<u8>, ToolError> {
    let output = cmd.output().map_err(ToolError::missing(tool, package))?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let mut message = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if message.is_empty() {
        message = format!("exit status {}", output.status);
    }
    Err(ToolError::Failed {
        tool: tool.into(),
        message,
    })
}

/// An mtools command (`mcopy`, `mdir`, `mtype` ...) on the FAT file system in `image`
/// (`FILE`, or `FILE@@OFFSET` for a partition of a disk image), without mtools' drive
/// checks.
pub fn mtools(program: &str, image: &str) -> Command {
    let mut c = Command::new(program);
    c.env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(image);
    c
}
