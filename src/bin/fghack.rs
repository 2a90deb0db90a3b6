#![no_main]
daemontools::program!(daemontools::cmd::fghack::main);
