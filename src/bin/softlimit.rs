#![no_main]
daemontools::program!(daemontools::cmd::softlimit::main);
