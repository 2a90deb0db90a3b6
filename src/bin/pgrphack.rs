#![no_main]
daemontools::program!(daemontools::cmd::pgrphack::main);
