//! The integration tests: one program (one build, one link) with a module
//! per area. They run the built binaries in temporary directories, side by
//! side with Debian's daemontools where it is installed (`support`).
//!
//! Tests marked `#[ignore]` are the long tier: `cargo test --profile ci --
//! --ignored` (or `--include-ignored` for everything).

mod support;

mod container;
mod debpkg;
mod frontends;
mod install;
mod lifecycle;
mod monitoring;
mod multilog;
mod multilog_crash;
mod multilog_diskfull;
mod multilog_modern;
mod readiness;
mod readme;
mod readproctitle;
mod ship;
mod shutdown;
mod status_golden;
mod supervise;
mod supervise_audit;
mod svlog;
mod svscan;
mod svscanboot;
mod tai64n;
mod tools_envdir;
mod tools_fghack;
mod tools_ids;
mod tools_path;
mod tools_setlock;
mod tools_softlimit;
