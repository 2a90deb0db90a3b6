//! daemontools-rs: a drop-in implementation of daemontools 0.76.
//!
//! The programs are thin binaries (`src/bin/*.rs`) over the modules here.
//! `sys` holds the only unsafe code.

pub mod account;
pub mod args;
pub mod cmd;
pub mod control;
pub mod exec;
pub mod filter;
pub mod fsio;
pub mod help;
pub mod monitor;
pub mod msg;
pub mod prometheus;
pub mod record;
pub mod status;
pub mod svctl;
pub mod sys;
pub mod tai64;
pub mod wait;
