//! One module per program; each exposes `main(&[&[u8]]) -> i32`.

pub mod supervise;
pub mod svc;
pub mod svcfront;
pub mod svok;
pub mod svshutdown;
pub mod svstat;
