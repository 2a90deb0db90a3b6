//! One module per program; each exposes `main(&[&[u8]]) -> i32`.

pub mod multilog;
pub mod supervise;
pub mod svc;
pub mod svok;
pub mod svstat;
pub mod tai64n;
pub mod tai64nlocal;
