#![no_main]
daemontools::program!(daemontools::cmd::envuidgid::main);
