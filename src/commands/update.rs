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
    /// machine in setup mode). Also its TLS CA, keys/tls-ca/ca.pem (built into every image:
    /// the only CA its agent trusts for HTTPS) and ca.key (secret), which issues the
    /// certificates of the project's servers (`compose keys server-cert`). What exists is kept
    /// unless --force.
    Generate {
        /// Replace the existing keys, the TLS CA folder included (devices built with the old
        /// ones refuse new releases, images signed by the new ones until they are enrolled,
        /// and servers whose certificates the old CA issued).
        #[arg(long)]
        force: bool,
    },
    /// Issue a server certificate from the project's TLS CA (keys/tls-ca/) for an update
    /// repository or fleet server that devices reach by NAME (a DNS name or an IP address):
    /// OUT/cert.pem (the chain) and OUT/key.pem (secret), for `--tls-cert` and `--tls-key`.
    ServerCert {
        /// The names devices use to reach the server.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        #[arg(long, value_name = "DIR", default_value = "keys/server")]
        out: PathBuf,
    },
}

/// The project's TLS CA: its certificate is pinned by every image built from now on.
pub const TLS_CA_DIR: &str = "keys/tls-ca";

/// The project's secret key file.
pub const SECRET_KEY: &str = "keys/update.key";

/// `compose keys generate`.
pub fn keys(args: KeysArgs, project: Project) -> Result<Outcome, CliError> {
    match args.command {
        KeysCommand::Generate { force } => generate(&project, force),
        KeysCommand::ServerCert { names, out } => server_cert(&project, &names, &out),
    }
    .map_err(CliError::Other)?;
    Ok(Outcome::Ok)
}

fn generate(project: &Project, force: bool) -> anyhow::Result<()> {
    let secret = project.root().join(SECRET_KEY);
    let public = project.root().join(compose_core::build::PROJECT_TRUST_KEY);
    let secure_boot = project.root().join(compose_core::secure_boot::DIR);
    let tls_ca = project.root().join(TLS_CA_DIR);
    let have_update = secret.exists() || public.exists();
    if !force && have_update && secure_boot.exists() && tls_ca.exists() {
        bail!(
            "{} already has an update key pair ({}), Secure Boot keys ({}) and a TLS CA ({})\nhelp: keep them (images built with them trust only them), or replace them with --force",
            project.root().display(),
            public.display(),
            secure_boot.display(),
            tls_ca.display()
        );
    }
    let dir = secret.parent().expect("keys/ is a folder");
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    std::fs::write(
        dir.join(".gitignore"),
        "update.key\nsecureboot/*.key\ntls-ca/*.key\nserver/\n",
    )
    .with_context(|| format!("write {}", dir.join(".gitignore").display()))?;
    if force || !tls_ca.exists() {
        let made = compose_fleet::tls::make_ca("compose project CA")?;
        let new = dir.join("tls-ca.new");
        let _ = std::fs::remove_dir_all(&new);
        std::fs::create_dir_all(&new).with_context(|| format!("create {}", new.display()))?;
        write_secret(&new.join("ca.key"), &made.key_pem)?;
        std::fs::write(new.join("ca.pem"), &made.cert_pem)
            .with_context(|| format!("write {}", new.join("ca.pem").display()))?;
        let _ = std::fs::remove_dir_all(&tls_ca);
        std::fs::rename(&new, &tls_ca)
            .with_context(|| format!("rename {} to {}", new.display(), tls_ca.display()))?;
        println!(
            "TLS CA: {} (built into images: their agents trust only it for HTTPS; `compose keys server-cert NAME` issues server certificates)",
            tls_ca.join("ca.pem").display()
        );
    }
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

/// `compose keys server-cert`: a certificate for `names` from the project's TLS CA.
fn server_cert(project: &Project, names: &[String], out: &Path) -> anyhow::Result<()> {
    let dir = project.root().join(TLS_CA_DIR);
    let (ca_cert, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let read = |p: &Path| {
        std::fs::read_to_string(p).with_context(|| {
            format!(
                "read {}\nhelp: `compose keys generate` makes the project's TLS CA",
                p.display()
            )
        })
    };
    let issuer = compose_fleet::tls::Issuer::from_pem(&read(&ca_cert)?, &read(&ca_key)?, &ca_key)?;
    let (chain, key) = issuer.issue_server(names)?;
    let out = project.root().join(out);
    std::fs::create_dir_all(&out).with_context(|| format!("create {}", out.display()))?;
    write_secret(&out.join("key.pem"), &key)?;
    std::fs::write(out.join("cert.pem"), chain)
        .with_context(|| format!("write {}", out.join("cert.pem").display()))?;
    println!(
        "server certificate for {}: {} and {} (give them as --tls-cert and --tls-key)",
        names.join(", "),
        out.join("cert.pem").display(),
        out.join("key.pem").display()
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
    /// Address to listen on; loopback by default (port 0: any free port). Anything but
    /// loopback needs TLS.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// The server's PEM certificate chain (`compose keys server-cert` makes one from the
    /// project's CA, which devices trust).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// `compose serve`: the repository over HTTPS (or plain HTTP on loopback) until interrupted.
pub fn serve(args: ServeArgs) -> Result<Outcome, CliError> {
    serve_repo(args).map_err(CliError::Other)?;
    Ok(Outcome::Ok)
}

fn serve_repo(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the server's runtime")?;
    runtime.block_on(async {
        let tls = args.tls_cert.zip(args.tls_key);
        let serving = compose_fleet::repo::start(&args.repo, args.listen, tls).await?;
        // Readiness for scripts and tests: requests are answered from here on.
        eprintln!("compose serve: {} on {}", args.repo.display(), serving.url);
        serving.wait().await?;
        Ok(())
    })
}
