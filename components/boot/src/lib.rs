//! compose-boot: the boot state of a composed device, shared by PID 1 (`compose-init`), the
//! update agent (`compose-update`) and the image build: `gpt` finds disks and partitions,
//! `cmdline` reads which slot booted, `entry` names, writes, reads and orders the
//! systemd-boot entries of the A/B slots, `verity` says how a slot's root is checked and
//! `dm` opens it through device-mapper.

pub mod cmdline;
pub mod dm;
pub mod entry;
pub mod gpt;
pub mod root;
pub mod uki;
pub mod verity;
