//! `compose keys`, `compose publish` and `compose serve`: the publisher's side of updates.
//! A project's key pair signs its releases (`keys/update.key`, never committed) and is
//! trusted by its images (`keys/update.pub`, built in); publishing adds a built image to an
//! update repository, which `serve` (or any static HTTP server) hands to devices.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use compose_core::project::Project;

use super::DeviceArg;
use crate::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Clone, Subcommand)]
enum KeysCommand {
    /// Make the project's update key pair: keys/update.key (secret, mode 0600, ignored by
    /// git) signs releases; keys/update.pub is built into every image as the key its updates
    /// must be signed with. Also its Secure Boot keys, keys/secureboot/: PK, KEK and db
    /// (db signs systemd-boot and every UKI; systemd-boot enrols the .auth files on a
    /// machine in setup mode). What exists is kept unless --force.
    Generate {
        /// Replace the existing keys (devices built with the old ones refuse new releases and
        /// images signed by the new ones until they are enrolled).
        #[arg(long)]
        force: bool,
    },
}

/// The project's secret key file.
pub const SECRET_KEY: &str = "keys/update.key";

/// `compose keys generate`.
pub fn keys(args: KeysArgs, project: Project) -> Result<Outcome, CliError> {
    let KeysCommand::Generate { force } = args.command;
    generate(&project, force).map_err(CliError::Other)?;
    Ok(Outcome::Ok)
}

fn generate(project: &Project, force: bool) -> anyhow::Result<()> {
    let secret = project.root().join(SECRET_KEY);
    let public = project.root().join(compose_core::build::PROJECT_TRUST_KEY);
    let secure_boot = project.root().join(compose_core::secure_boot::DIR);
    let have_update = secret.exists() || public.exists();
    if !force && have_update && secure_boot.exists() {
        bail!(
            "{} already has an update key pair ({}) and Secure Boot keys ({})\nhelp: keep them (images built with them trust only them), or replace them with --force",
            project.root().display(),
            public.display(),
            secure_boot.display()
        );
    }
    let dir = secret.parent().expect("keys/ is a folder");
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    std::fs::write(dir.join(".gitignore"), "update.key\nsecureboot/*.key\n")
        .with_context(|| format!("write {}", dir.join(".gitignore").display()))?;
    if force || !secure_boot.exists() {
        // Made aside and renamed: a failed run leaves no half set behind.
        let new = dir.join("secureboot.new");
        let _ = std::fs::remove_dir_all(&new);
        compose_core::secure_boot::generate(&new)?;
        let _ = std::fs::remove_dir_all(&secure_boot);
        std::fs::rename(&new, &secure_boot)
            .with_context(|| format!("rename {} to {}", new.display(), secure_boot.display()))?;
        println!(
            "Secure Boot keys PK, KEK and db: {} (db signs systemd-boot and each UKI; systemd-boot enrols the .auth files on a machine in setup mode)",
            secure_boot.display()
        );
    }
    if have_update && !force {
        return Ok(());
    }
    let key = compose_update::keys::generate()?;
    write_secret(&secret, &compose_update::keys::secret_text(&key))?;
    std::fs::write(
        &public,
        compose_update::keys::public_text(&key.verifying_key()),
    )
    .with_context(|| format!("write {}", public.display()))?;
    println!(
        "key {} : {} (secret, keep it safe) and {} (built into images from now on)",
        compose_update::keys::key_id(&key.verifying_key()),
        secret.display(),
        public.display()
    );
    Ok(())
}

/// Writes the secret key readable by its owner only, from the start.
fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("write {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    #[command(flatten)]
    device: DeviceArg,
    /// The repository folder (made if missing).
    repo: PathBuf,
    /// Where the image was built (`compose build --out`); the image is OUT/DEVICE/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The secret key to sign with; default keys/update.key of the project.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Days until devices refuse the release (publish again to renew it); at least 1.
    #[arg(long, value_name = "DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=36500))]
    valid_days: u64,
    #[arg(long)]
    json: bool,
}

/// `compose publish`.
pub fn publish(args: PublishArgs, project: Project) -> Result<Outcome, CliError> {
    publish_image(
        &project,
        &args.device.device,
        &args.repo,
        args.out.as_deref(),
        args.key.as_deref(),
        args.valid_days,
        args.json,
    )
    .map_err(CliError::Other)?;
    Ok(Outcome::Ok)
}

/// The built image of `device` (in `out`) into `repo`.
fn publish_image(
    project: &Project,
    device: &str,
    repo: &Path,
    out: Option<&Path>,
    key: Option<&Path>,
    valid_days: u64,
    json: bool,
) -> anyhow::Result<()> {
    let key_path = key
        .map(Path::to_path_buf)
        .unwrap_or_else(|| project.root().join(SECRET_KEY));
    if !key_path.exists() {
        bail!(
            "no signing key at {}\nhelp: make the project's key pair with `compose keys generate` (and build the image again, so it trusts the key), or pass --key FILE",
            key_path.display()
        );
    }
    let key = compose_update::keys::read_secret(&key_path)?;
    let image_dir: PathBuf = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| project.root().join("out"))
        .join(device);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let report =
        compose_core::publish::publish(repo, &image_dir, &key, now, valid_days * 24 * 3600)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "published {} {} (generation {}) as {}{}",
        report.device,
        report.version,
        report.generation,
        repo.join(&report.release).display(),
        if report.latest { ", the latest" } else { "" }
    );
    for a in &report.artifacts {
        println!(
            "  {:<7} {:>11} bytes in {:>5} chunks; new: {:>5} chunks, {:>11} bytes ({} stored)",
            a.name, a.size, a.chunks, a.new_chunks, a.new_bytes, a.new_stored
        );
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    repo: PathBuf,
    /// Address to listen on; loopback by default (port 0: any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
}

/// `compose serve`: the repository over HTTP until interrupted.
pub fn serve(args: ServeArgs) -> Result<Outcome, CliError> {
    serve_repo(&args.repo, args.listen).map_err(CliError::Other)?;
    Ok(Outcome::Ok)
}

fn serve_repo(repo: &Path, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let serving = compose_core::serve::bind(repo, listen)?;
    // Readiness for scripts and tests: requests are answered from here on.
    eprintln!(
        "compose serve: {} on http://{}/",
        repo.display(),
        serving.addr
    );
    serving.run();
    Ok(())
}
