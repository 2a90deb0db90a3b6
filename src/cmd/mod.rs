//! One module per program; each exposes `main(&[&[u8]]) -> i32`.

pub mod envdir;
pub mod envuidgid;
pub mod fghack;
pub mod multilog;
pub mod pgrphack;
pub mod readproctitle;
pub mod setlock;
pub mod setuidgid;
pub mod softlimit;
pub mod supervise;
pub mod svc;
pub mod svcstart;
pub mod svlog;
pub mod svmetrics;
pub mod svok;
pub mod svscan;
pub mod svscanboot;
pub mod svshutdown;
pub mod svstat;
pub mod svwait;
pub mod tai64n;
pub mod tai64nlocal;
