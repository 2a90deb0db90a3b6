#![no_main]
daemontools::program!(daemontools::cmd::supervise::main);
