//! NoCloud seeds for `compose flash --provision`: a provisioning file is checked (every
//! problem located, nothing made when there is one) and packed into a small FAT image
//! labelled `CIDATA` with its `meta-data`, the drive init reads at first boot. A file
//! that already is such a drive is used as it is.

use std::path::{Path, PathBuf};
use std::process::Command;

use compose_provision::seed;

use crate::tool::ToolError;

/// Why a seed could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read the provisioning file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", located(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<compose_provision::Problem>,
    },
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("cannot write the seed {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// `PATH:LINE:COL: message` and its help, one per problem.
pub fn located(path: &Path, problems: &[compose_provision::Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| format!("{}:{p}", path.display()))
        .collect();
    format!(
        "{} problem(s) in the provisioning file:\n{}",
        problems.len(),
        lines.join("\n")
    )
}

/// Reads and checks the provisioning file at `path`.
pub fn check(path: &Path) -> Result<(String, compose_provision::Provision), SeedError> {
    let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let provision = compose_provision::parse(&text).map_err(|problems| SeedError::Invalid {
        path: path.to_path_buf(),
        problems,
    })?;
    Ok((text, provision))
}

/// The drive for `--provision FILE`: FILE itself when it is a seed already (labelled
/// CIDATA), else a seed made from the checked provisioning file in `dir`.
pub fn seed_for(file: &Path, dir: &Path) -> Result<PathBuf, SeedError> {
    if seed::label(file).is_some_and(|l| l.eq_ignore_ascii_case(seed::LABEL)) {
        return Ok(file.to_path_buf());
    }
    let (text, provision) = check(file)?;
    let image = dir.join("cidata.img");
    let write = |source| SeedError::Write {
        path: image.clone(),
        source,
    };
    let f = std::fs::File::create(&image).map_err(write)?;
    f.set_len(2 << 20).map_err(write)?;
    drop(f);
    crate::tool::run(
        Command::new("mkfs.vfat")
            .args(["-n", seed::LABEL, "-i", "c1da7a00"])
            .arg(&image),
        "mkfs.vfat",
        "dosfstools",
    )?;
    let digest = compose_provision::apply::digest(&text);
    let mut meta = format!("instance-id: compose-{}\n", &digest[..16]);
    if let Some(h) = &provision.hostname {
        meta.push_str(&format!("local-hostname: {h}\n"));
    }
    for (name, bytes) in [
        (seed::FILE, text.as_bytes()),
        (seed::META_DATA, meta.as_bytes()),
    ] {
        let staged = dir.join(name);
        std::fs::write(&staged, bytes).map_err(write)?;
        crate::tool::run(
            crate::tool::mtools("mcopy", &image.to_string_lossy())
                .arg(&staged)
                .arg(format!("::{name}")),
            "mcopy",
            "mtools",
        )?;
    }
    Ok(image)
}
