//! The kernel command line: which slot booted and where its root is.

/// What init and the update agent need from `/proc/cmdline`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cmdline {
    /// `root=PARTUUID=...`, lowercase.
    pub root_partuuid: Option<String>,
    /// `compose.slot=a`.
    pub slot: Option<String>,
    /// `compose.ready-timeout=SECONDS`: how long services may take to come up.
    pub ready_timeout: Option<u64>,
    /// `compose.verity=...`: the root is opened through dm-verity; `Err` says why the
    /// argument is unusable (init refuses to mount such a root unchecked).
    pub verity: Option<Result<crate::verity::Verity, String>>,
}

/// Reads `/proc/cmdline` text; unknown arguments are ignored.
pub fn parse(text: &str) -> Cmdline {
    let mut c = Cmdline::default();
    for arg in text.split_whitespace() {
        if let Some(uuid) = arg.strip_prefix("root=PARTUUID=") {
            c.root_partuuid = Some(uuid.to_lowercase());
        } else if let Some(slot) = arg.strip_prefix("compose.slot=") {
            c.slot = Some(slot.to_string());
        } else if let Some(t) = arg.strip_prefix("compose.ready-timeout=") {
            c.ready_timeout = t.parse().ok();
        } else if let Some(v) = arg.strip_prefix("compose.verity=") {
            c.verity = Some(crate::verity::Verity::parse(v));
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_boot_entry_writes() {
        let c = parse(
            "root=PARTUUID=772CEC67-416F-400A-AFE1-6FC5BC1B1A39 ro compose.slot=b console=ttyS0\n",
        );
        assert_eq!(
            c.root_partuuid.as_deref(),
            Some("772cec67-416f-400a-afe1-6fc5bc1b1a39")
        );
        assert_eq!(c.slot.as_deref(), Some("b"));
        assert_eq!(c.verity, None);
        assert_eq!(parse("quiet"), Cmdline::default());
        let v = parse(&format!(
            "compose.verity=8:{}:{}",
            "a".repeat(64),
            "b".repeat(64)
        ));
        assert_eq!(v.verity.unwrap().unwrap().data_blocks, 8);
        assert!(parse("compose.verity=8").verity.unwrap().is_err());
    }
}
