//! compose-boot: the boot state of a composed device, shared by PID 1 (`compose-init`), the
//! update agent (`compose-update`) and the image build: `gpt` finds disks and partitions,
//! `cmdline` reads which slot booted, `entry` names, writes, reads and orders the
//! systemd-boot entries of the A/B slots.

pub mod cmdline;
pub mod entry;
pub mod gpt;
